//! `ec2`: the contract's requests, instances and state changes, field for
//! field.

use super::types::wit_list;
use crate::capabilities::{CallCaps, ec2 as cap};
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::ec2 as wit;

impl wit::Host for CallCaps {
    async fn run_instances(
        &mut self,
        credentials: String,
        request: wit::RunRequest,
    ) -> wasmtime::Result<Result<Vec<wit::Instance>, WitError>> {
        Ok(wit_list(self.ec2_run_instances(&credentials, request.into()).await))
    }

    async fn describe_instances(
        &mut self,
        credentials: String,
        region: String,
        instance_ids: Vec<String>,
        filters: Vec<(String, Vec<String>)>,
    ) -> wasmtime::Result<Result<Vec<wit::Instance>, WitError>> {
        Ok(wit_list(self.ec2_describe_instances(&credentials, &region, instance_ids, filters).await))
    }

    async fn change_state(
        &mut self,
        credentials: String,
        region: String,
        instance_ids: Vec<String>,
        action: wit::StateAction,
    ) -> wasmtime::Result<Result<Vec<wit::StateChange>, WitError>> {
        Ok(wit_list(self.ec2_change_state(&credentials, &region, instance_ids, action.into()).await))
    }
}

impl From<wit::RunRequest> for cap::RunRequest {
    fn from(r: wit::RunRequest) -> Self {
        cap::RunRequest {
            region: r.region,
            image_id: r.image_id,
            instance_type: r.instance_type,
            key_name: r.key_name,
            availability_zone: r.availability_zone,
            security_groups: r.security_groups,
            security_group_ids: r.security_group_ids,
            subnet_id: r.subnet_id,
            user_data: r.user_data,
            tags: r.tags.into_iter().map(Into::into).collect(),
            client_token: r.client_token,
            count: r.count,
        }
    }
}

impl From<wit::Tag> for cap::InstanceTag {
    fn from(t: wit::Tag) -> Self {
        cap::InstanceTag { key: t.key, value: t.value }
    }
}

impl From<cap::InstanceTag> for wit::Tag {
    fn from(t: cap::InstanceTag) -> Self {
        wit::Tag { key: t.key, value: t.value }
    }
}

impl From<cap::Instance> for wit::Instance {
    fn from(i: cap::Instance) -> Self {
        wit::Instance {
            instance_id: i.instance_id,
            image_id: i.image_id,
            instance_type: i.instance_type,
            state: i.state,
            state_reason: i.state_reason,
            key_name: i.key_name,
            availability_zone: i.availability_zone,
            public_ip: i.public_ip,
            private_ip: i.private_ip,
            public_dns: i.public_dns,
            private_dns: i.private_dns,
            launch_time: i.launch_time,
            subnet_id: i.subnet_id,
            vpc_id: i.vpc_id,
            security_groups: i.security_groups,
            tags: i.tags.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::StateAction> for cap::StateAction {
    fn from(action: wit::StateAction) -> Self {
        match action {
            wit::StateAction::Start => cap::StateAction::Start,
            wit::StateAction::Stop => cap::StateAction::Stop,
            wit::StateAction::Reboot => cap::StateAction::Reboot,
            wit::StateAction::Terminate => cap::StateAction::Terminate,
        }
    }
}

impl From<cap::StateChange> for wit::StateChange {
    fn from(c: cap::StateChange) -> Self {
        wit::StateChange {
            instance_id: c.instance_id,
            previous_state: c.previous_state,
            current_state: c.current_state,
        }
    }
}
