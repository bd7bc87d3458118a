//! The `ec2` capability: Amazon EC2 through the host's SDK (aws-sdk-ec2).
//!
//! The participant names the secret that holds the credentials; the host
//! reads it after the grant check, signs the requests and talks to AWS (or
//! to the endpoint the operator configured with AWS_ENDPOINT_URL — never one
//! the participant chose). Every call is checked against the granted
//! regions.

use super::grants::is_region;
use super::{CallCaps, CapabilityError, Secret, clip};
use aws_sdk_ec2::Client;
use aws_sdk_ec2::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, InstanceType, Placement, ResourceType, Tag, TagSpecification};
use base64::Engine as _;
use std::collections::HashMap;
use std::sync::Mutex;

/// What to launch (`RunInstances`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// The region to launch in; it must be granted.
    pub region: String,
    /// The AMI to launch (required).
    pub image_id: String,
    /// The instance type, e.g. `t3.micro` (required).
    pub instance_type: String,
    /// The EC2 key pair to install for SSH.
    pub key_name: Option<String>,
    /// The zone to place the instances in; EC2 picks one when `None`.
    pub availability_zone: Option<String>,
    /// Security group names (EC2-Classic/default VPC style).
    pub security_groups: Vec<String>,
    /// Security group ids (VPC style).
    pub security_group_ids: Vec<String>,
    /// The VPC subnet to launch into.
    pub subnet_id: Option<String>,
    /// Plain text; the host base64-encodes it.
    pub user_data: Option<String>,
    /// Tags put on the instances at launch.
    pub tags: Vec<InstanceTag>,
    /// EC2's ClientToken: the same token never launches twice.
    pub client_token: Option<String>,
    /// How many instances (at least one).
    pub count: u32,
}

/// An EC2 tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTag {
    /// The tag's key (`Name`).
    pub key: String,
    /// The tag's value.
    pub value: String,
}

/// An instance as EC2 describes it (empty strings become `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The instance's id (`i-...`).
    pub instance_id: String,
    /// The AMI it runs.
    pub image_id: Option<String>,
    /// Its type (`t3.micro`).
    pub instance_type: Option<String>,
    /// pending, running, shutting-down, terminated, stopping, stopped
    pub state: String,
    /// Why it is in its state, when EC2 says (a stop's or a failure's reason).
    pub state_reason: Option<String>,
    /// Its key pair.
    pub key_name: Option<String>,
    /// Its zone.
    pub availability_zone: Option<String>,
    /// Its public IPv4 address.
    pub public_ip: Option<String>,
    /// Its private IPv4 address.
    pub private_ip: Option<String>,
    /// Its public DNS name.
    pub public_dns: Option<String>,
    /// Its private DNS name.
    pub private_dns: Option<String>,
    /// When it was launched (RFC 3339).
    pub launch_time: Option<String>,
    /// Its subnet.
    pub subnet_id: Option<String>,
    /// Its VPC.
    pub vpc_id: Option<String>,
    /// The names of its security groups.
    pub security_groups: Vec<String>,
    /// Its tags.
    pub tags: Vec<InstanceTag>,
}

/// What [`CallCaps::ec2_change_state`] does to instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAction {
    /// Start stopped instances.
    Start,
    /// Stop running instances.
    Stop,
    /// Reboot running instances.
    Reboot,
    /// Terminate instances for good.
    Terminate,
}

/// An instance's state before and after a start, stop or terminate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateChange {
    /// The instance.
    pub instance_id: String,
    /// Its state before (`running`).
    pub previous_state: String,
    /// Its state now (`stopping`).
    pub current_state: String,
}

/// SDK clients kept at most; each holds an HTTPS client and its
/// connection pool (hundreds of KiB), and keys come from tenants (region,
/// access key), so the cache is bounded and the least recently used client
/// goes first.
pub const MAX_EC2_CLIENTS: usize = 32;

/// SDK clients, one per (region, access key), built on first use: building
/// one sets up an HTTPS client, too slow to do per call. At most
/// [`MAX_EC2_CLIENTS`]; a hand-rolled LRU since a linear scan of 32 entries
/// on a miss costs nothing next to building a client.
#[derive(Default)]
pub struct Ec2Clients {
    endpoint: Option<String>,
    clients: Mutex<Cache>,
}

#[derive(Default)]
struct Cache {
    entries: HashMap<(String, String), (Client, u64)>,
    clock: u64,
}

impl Ec2Clients {
    /// An empty cache whose clients talk to `endpoint` (the operator's
    /// AWS_ENDPOINT_URL), or to AWS when `None`.
    pub fn new(endpoint: Option<String>) -> Self {
        Ec2Clients { endpoint, clients: Mutex::new(Cache::default()) }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).entries.len()
    }

    fn client(&self, region: &str, creds: &AwsCredentials) -> Client {
        let key = (region.to_owned(), format!("{}:{}", creds.access_key_id, digest(&creds.secret_access_key)));
        let mut cache = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        cache.clock += 1;
        let now = cache.clock;
        if let Some((c, used)) = cache.entries.get_mut(&key) {
            *used = now;
            return c.clone();
        }
        if cache.entries.len() >= MAX_EC2_CLIENTS
            && let Some(oldest) = cache.entries.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone())
        {
            cache.entries.remove(&oldest);
        }
        let credentials = Credentials::new(
            &creds.access_key_id,
            &creds.secret_access_key,
            creds.session_token.clone(),
            None,
            "mastermind-secret",
        );
        let mut config = aws_sdk_ec2::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_owned()))
            .credentials_provider(credentials);
        if let Some(endpoint) = &self.endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = Client::from_conf(config.build());
        cache.entries.insert(key, (client.clone(), now));
        client
    }
}

fn digest(s: &str) -> String {
    use sha2::Digest;
    hex::encode(&sha2::Sha256::digest(s.as_bytes())[..8])
}

/// Credentials as kept in a secret: `ACCESS_KEY_ID:SECRET_ACCESS_KEY`, or a
/// JSON object with `access_key_id`, `secret_access_key` and optionally
/// `session_token`.
struct AwsCredentials {
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl AwsCredentials {
    fn parse(secret: &Secret) -> Result<Self, CapabilityError> {
        let text = secret.expose().trim();
        if text.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|_| CapabilityError::fatal("ec2: the credentials secret is not valid JSON"))?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            return match (field("access_key_id"), field("secret_access_key")) {
                (Some(id), Some(key)) => Ok(AwsCredentials {
                    access_key_id: id,
                    secret_access_key: key,
                    session_token: field("session_token"),
                }),
                _ => {
                    Err(CapabilityError::fatal("ec2: the credentials secret needs access_key_id and secret_access_key"))
                }
            };
        }
        match text.split_once(':') {
            Some((id, key)) if !id.is_empty() && !key.is_empty() => Ok(AwsCredentials {
                access_key_id: id.to_owned(),
                secret_access_key: key.to_owned(),
                session_token: None,
            }),
            _ => Err(CapabilityError::fatal(
                "ec2: the credentials secret must be ACCESS_KEY_ID:SECRET_ACCESS_KEY or JSON",
            )),
        }
    }
}

impl CallCaps {
    /// Checks the region and the credentials grant, and returns a client.
    fn ec2_client(&mut self, credentials: &str, region: &str) -> Result<Client, CapabilityError> {
        if region.is_empty() {
            return Err(CapabilityError::bad_input("ec2: no region"));
        }
        // Before the grant (`ec2=*` allows any string): the region names the
        // endpoint's host and keys the client cache.
        if !is_region(region) {
            return Err(CapabilityError::bad_input(format!(
                "ec2: '{}' is not an AWS region (like us-west-2)",
                clip(region, 64)
            )));
        }
        if !self.grants.allows_region(region) {
            return Err(self.deny("ec2", &format!("region '{region}'"), &format!("grant it with ec2={region}")));
        }
        let secret = self.secret("ec2", credentials)?;
        let creds = AwsCredentials::parse(&secret)?;
        Ok(self.services.ec2.client(region, &creds))
    }

    fn ec2_error<E: ProvideErrorMetadata + std::fmt::Debug>(
        &self,
        what: &str,
        e: aws_sdk_ec2::error::SdkError<E>,
    ) -> CapabilityError {
        use aws_sdk_ec2::error::SdkError;
        let err = match &e {
            SdkError::ServiceError(s) => {
                let code = s.err().code().unwrap_or("Unknown");
                let message = s.err().message().unwrap_or("");
                let text = format!("ec2 {what}: {code}: {message}");
                let transient = code.contains("Throttl")
                    || code.contains("RequestLimitExceeded")
                    || code.contains("InsufficientInstanceCapacity")
                    || code.contains("Unavailable")
                    || code.contains("InternalError")
                    || s.raw().status().is_server_error();
                if transient { CapabilityError::retryable(text) } else { CapabilityError::fatal(text) }
            }
            SdkError::TimeoutError(_) => CapabilityError::retryable(format!("ec2 {what}: timed out")),
            SdkError::DispatchFailure(d) => {
                CapabilityError::retryable(format!("ec2 {what}: cannot reach the EC2 endpoint: {d:?}"))
            }
            other => CapabilityError::retryable(format!("ec2 {what}: {other}")),
        };
        let message = self.redact(&err.message);
        CapabilityError { message: clip(&message, 4 * super::MAX_ECHO_CHARS).into_owned(), ..err }
    }
}

impl CallCaps {
    /// Launches `request.count` instances with the credentials in secret
    /// `credentials`.
    ///
    /// # Errors
    /// `denied` when the region or the credentials secret is not granted;
    /// `bad-input` when the region, image or type is missing; `fatal` for
    /// unreadable credentials or an error EC2 says will recur; `retryable` for
    /// throttling, timeouts and unreachable endpoints.
    pub async fn ec2_run_instances(
        &mut self,
        credentials: &str,
        request: RunRequest,
    ) -> Result<Vec<Instance>, CapabilityError> {
        let client = self.ec2_client(credentials, &request.region)?;
        if request.image_id.is_empty() || request.instance_type.is_empty() {
            return Err(CapabilityError::bad_input("ec2 run-instances: image-id and instance-type are required"));
        }
        if self.dry_run().is_some() {
            return Ok(self.dry_run_instances(&request));
        }
        let count = request.count.max(1) as i32;
        let mut call = client
            .run_instances()
            .image_id(&request.image_id)
            .instance_type(InstanceType::from(request.instance_type.as_str()))
            .min_count(count)
            .max_count(count)
            .set_key_name(request.key_name.clone())
            .set_subnet_id(request.subnet_id.clone())
            .set_client_token(request.client_token.clone());
        if let Some(zone) = &request.availability_zone {
            call = call.placement(Placement::builder().availability_zone(zone).build());
        }
        if !request.security_groups.is_empty() {
            call = call.set_security_groups(Some(request.security_groups.clone()));
        }
        if !request.security_group_ids.is_empty() {
            call = call.set_security_group_ids(Some(request.security_group_ids.clone()));
        }
        if let Some(data) = &request.user_data {
            call = call.user_data(base64::engine::general_purpose::STANDARD.encode(data));
        }
        if !request.tags.is_empty() {
            let tags = request.tags.iter().map(|t| Tag::builder().key(&t.key).value(&t.value).build()).collect();
            call = call.tag_specifications(
                TagSpecification::builder().resource_type(ResourceType::Instance).set_tags(Some(tags)).build(),
            );
        }
        match call.send().await {
            Ok(out) => Ok(out.instances().iter().map(instance).collect()),
            Err(e) => Err(self.ec2_error("run-instances", e)),
        }
    }

    /// The given instances; with no ids, the live ones matching `filters`
    /// (EC2 filter name and accepted values).
    ///
    /// # Errors
    /// As [`CallCaps::ec2_run_instances`].
    pub async fn ec2_describe_instances(
        &mut self,
        credentials: &str,
        region: &str,
        instance_ids: Vec<String>,
        filters: Vec<(String, Vec<String>)>,
    ) -> Result<Vec<Instance>, CapabilityError> {
        let client = self.ec2_client(credentials, region)?;
        if self.dry_run().is_some() {
            return Ok(self.dry_describe(region, &instance_ids));
        }
        let mut call = client.describe_instances();
        if instance_ids.is_empty() {
            // Everything but the long gone.
            let live = ["pending", "running", "shutting-down", "stopping", "stopped"].map(String::from).to_vec();
            call = call.filters(Filter::builder().name("instance-state-name").set_values(Some(live)).build());
        } else {
            call = call.set_instance_ids(Some(instance_ids));
        }
        for (name, values) in filters {
            call = call.filters(Filter::builder().name(name).set_values(Some(values)).build());
        }
        match call.send().await {
            Ok(out) => Ok(out.reservations().iter().flat_map(|r| r.instances().iter().map(instance)).collect()),
            Err(e) => Err(self.ec2_error("describe-instances", e)),
        }
    }

    /// Starts, stops, reboots or terminates instances; a reboot reports no
    /// state change.
    ///
    /// # Errors
    /// As [`CallCaps::ec2_run_instances`]; `bad-input` when no ids are given.
    pub async fn ec2_change_state(
        &mut self,
        credentials: &str,
        region: &str,
        instance_ids: Vec<String>,
        action: StateAction,
    ) -> Result<Vec<StateChange>, CapabilityError> {
        let client = self.ec2_client(credentials, region)?;
        if instance_ids.is_empty() {
            return Err(CapabilityError::bad_input("ec2: no instance ids"));
        }
        if self.dry_run().is_some() {
            return Ok(self.dry_change_state(region, &instance_ids, action));
        }
        let ids = Some(instance_ids);
        match action {
            StateAction::Start => client
                .start_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|o| o.starting_instances().iter().map(change).collect())
                .map_err(|e| self.ec2_error("start-instances", e)),
            StateAction::Stop => client
                .stop_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|o| o.stopping_instances().iter().map(change).collect())
                .map_err(|e| self.ec2_error("stop-instances", e)),
            StateAction::Terminate => client
                .terminate_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|o| o.terminating_instances().iter().map(change).collect())
                .map_err(|e| self.ec2_error("terminate-instances", e)),
            StateAction::Reboot => client
                .reboot_instances()
                .set_instance_ids(ids)
                .send()
                .await
                .map(|_| Vec::new())
                .map_err(|e| self.ec2_error("reboot-instances", e)),
        }
    }
}

fn state_name(state: Option<&aws_sdk_ec2::types::InstanceState>) -> String {
    state.and_then(|s| s.name()).map(|n| n.as_str().to_owned()).unwrap_or_else(|| "unknown".into())
}

fn instance(i: &aws_sdk_ec2::types::Instance) -> Instance {
    let opt = |s: Option<&str>| s.filter(|s| !s.is_empty()).map(str::to_owned);
    Instance {
        instance_id: i.instance_id().unwrap_or_default().to_owned(),
        image_id: opt(i.image_id()),
        instance_type: i.instance_type().map(|t| t.as_str().to_owned()),
        state: state_name(i.state()),
        state_reason: i.state_reason().and_then(|r| r.message()).map(str::to_owned),
        key_name: opt(i.key_name()),
        availability_zone: i.placement().and_then(|p| p.availability_zone()).map(str::to_owned),
        public_ip: opt(i.public_ip_address()),
        private_ip: opt(i.private_ip_address()),
        public_dns: opt(i.public_dns_name()),
        private_dns: opt(i.private_dns_name()),
        launch_time: i.launch_time().map(|t| t.to_string()),
        subnet_id: opt(i.subnet_id()),
        vpc_id: opt(i.vpc_id()),
        security_groups: i.security_groups().iter().filter_map(|g| g.group_name().map(str::to_owned)).collect(),
        tags: i
            .tags()
            .iter()
            .map(|t| InstanceTag {
                key: t.key().unwrap_or_default().to_owned(),
                value: t.value().unwrap_or_default().to_owned(),
            })
            .collect(),
    }
}

fn change(c: &aws_sdk_ec2::types::InstanceStateChange) -> StateChange {
    StateChange {
        instance_id: c.instance_id().unwrap_or_default().to_owned(),
        previous_state: state_name(c.previous_state()),
        current_state: state_name(c.current_state()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 20,000 region strings once grew the server by a gigabyte: the cache
    /// keeps at most [`MAX_EC2_CLIENTS`], the most recently used.
    #[test]
    fn the_client_cache_is_bounded_and_keeps_the_recently_used() {
        let clients = Ec2Clients::new(Some("http://127.0.0.1:9".into()));
        let creds =
            AwsCredentials { access_key_id: "AKID".into(), secret_access_key: "key".into(), session_token: None };
        clients.client("us-west-2", &creds);
        for i in 0..(MAX_EC2_CLIENTS * 3) {
            clients.client(&format!("xx-test-{i}"), &creds);
            clients.client("us-west-2", &creds);
            assert!(clients.len() <= MAX_EC2_CLIENTS, "{} clients after {i}", clients.len());
        }
        let cache = clients.clients.lock().unwrap();
        assert!(cache.entries.contains_key(&("us-west-2".to_owned(), format!("AKID:{}", digest("key")))));
    }
}
