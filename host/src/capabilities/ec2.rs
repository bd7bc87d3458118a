//! The `ec2` capability: grant checks. The calls through aws-sdk-ec2 land
//! with the built-in EC2 participant.

use super::CallCaps;
use crate::sandbox::bindings::WitError;
use crate::sandbox::bindings::mastermind::participant::ec2 as wit;

impl CallCaps {
    fn ec2_check(&mut self, credentials: &str, region: &str) -> Result<(), WitError> {
        if !self.grants.allows_region(region) {
            return Err(self.deny("ec2", &format!("region '{region}'"), &format!("grant it with ec2={region}")));
        }
        let _credentials = self.secret("ec2", credentials)?;
        let _ = &self.services.aws_endpoint_url;
        Err(WitError::fatal("ec2: calls are not available in this build yet"))
    }
}

impl wit::Host for CallCaps {
    async fn run_instances(
        &mut self,
        credentials: String,
        request: wit::RunRequest,
    ) -> wasmtime::Result<Result<Vec<wit::Instance>, WitError>> {
        Ok(self.ec2_check(&credentials, &request.region).map(|()| Vec::new()))
    }

    async fn describe_instances(
        &mut self,
        credentials: String,
        region: String,
        _instance_ids: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<wit::Instance>, WitError>> {
        Ok(self.ec2_check(&credentials, &region).map(|()| Vec::new()))
    }

    async fn change_state(
        &mut self,
        credentials: String,
        region: String,
        _instance_ids: Vec<String>,
        _action: wit::StateAction,
    ) -> wasmtime::Result<Result<Vec<wit::StateChange>, WitError>> {
        Ok(self.ec2_check(&credentials, &region).map(|()| Vec::new()))
    }
}
