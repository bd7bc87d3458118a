//! `ec2_server`: EC2 instances — `create_ec2_server`, `destroy_ec2_server`,
//! `stop_ec2_server`, `start_ec2_server`, `restart_ec2_server`,
//! `reboot_ec2_server`, `describe_ec2_server`. State changes wait for the
//! target state (running, stopped, terminated) up to `timeout` seconds.
//! Credentials are the host's: the `credentials` param names the secret.

use mastermind_sdk::ec2::{self, Instance, RunRequest, StateAction, Tag};
use mastermind_sdk::prelude::*;
use std::time::Duration;

struct Ec2Server;

/// The tag holding the idempotency key of the step that launched an instance.
const STEP_TAG: &str = "mastermind:step";

fn with_target(a: Action) -> Action {
    a.required("instance_id", Kind::String, "the instance")
        .optional("region", Kind::String, "AWS region (default: the AWS_REGION setting)")
        .optional("credentials", Kind::String, "name of the secret holding the AWS credentials (default aws)")
        .optional("wait", Kind::Boolean, "wait for the target state (default true)")
        .optional("timeout", Kind::Integer, "seconds to wait (default 600)")
}

impl Participant for Ec2Server {
    fn describe() -> Description {
        Description::new("ec2_server", "Amazon EC2 instances")
            .action(
                Action::new("create", "Launches an instance and waits until it runs")
                    .required("image_id", Kind::String, "the AMI")
                    .optional("flavor_id", Kind::String, "instance type (old Mastermind name)")
                    .optional("instance_type", Kind::String, "instance type, e.g. t3.micro")
                    .optional("key_name", Kind::String, "key pair name")
                    .optional("region", Kind::String, "AWS region (default: the AWS_REGION setting)")
                    .optional("availability_zone", Kind::String, "e.g. us-west-2a")
                    .optional("groups", Kind::Any, "security group names (array or comma-separated)")
                    .optional("security_group_ids", Kind::Array, "security group ids")
                    .optional("subnet_id", Kind::String, "VPC subnet")
                    .optional("tags", Kind::Object, "tags, e.g. {\"Name\": \"web\"}")
                    .optional("user_data", Kind::String, "cloud-init user data (plain text)")
                    .optional(
                        "credentials",
                        Kind::String,
                        "name of the secret holding the AWS credentials (default aws)",
                    )
                    .optional("wait", Kind::Boolean, "wait until running (default true)")
                    .optional("timeout", Kind::Integer, "seconds to wait (default 600)"),
            )
            .action(with_target(Action::new("destroy", "Terminates an instance and waits until it is gone")))
            .action(with_target(Action::new("stop", "Stops an instance and waits until it is stopped")))
            .action(with_target(Action::new("start", "Starts an instance and waits until it runs")))
            .action(with_target(Action::new("restart", "Stops then starts an instance")))
            .action(with_target(Action::new("reboot", "Reboots an instance (no state change to wait for)")))
            .action(with_target(Action::new("describe", "Returns an instance's attributes")))
    }

    fn invoke(call: Call) -> Result<Fields> {
        let region = call.param_or_setting("region", "AWS_REGION").unwrap_or_else(|| "us-east-1".into());
        let credentials = call.optional::<String>("credentials")?.unwrap_or_else(|| "aws".into());
        let wait = call.optional::<bool>("wait")?.unwrap_or(true);
        let timeout = Duration::from_secs(call.optional::<u64>("timeout")?.unwrap_or(600));
        let target = |id: &str, state| Target {
            credentials: &credentials,
            region: &region,
            id: id.to_owned(),
            wait,
            timeout,
            state,
        };
        if call.action == "create" {
            return create(&call, &credentials, &region, wait, timeout);
        }
        let id: String = call.param("instance_id")?;
        let instance = match call.action.as_str() {
            "destroy" => target(&id, "terminated").change(StateAction::Terminate)?,
            "stop" => target(&id, "stopped").change(StateAction::Stop)?,
            "start" => target(&id, "running").change(StateAction::Start)?,
            "restart" => {
                target(&id, "stopped").change(StateAction::Stop)?;
                target(&id, "running").change(StateAction::Start)?
            }
            "reboot" => target(&id, "running").change(StateAction::Reboot)?,
            _ => describe_one(&credentials, &region, &id)?,
        };
        Ok(fields_of(&instance))
    }
}

fn create(call: &Call, credentials: &str, region: &str, wait: bool, timeout: Duration) -> Result<Fields> {
    let instance_type = match (call.optional::<String>("instance_type")?, call.optional::<String>("flavor_id")?) {
        (Some(t), _) | (None, Some(t)) => t,
        (None, None) => return Err(Error::bad_input("create: give instance_type (or flavor_id)")),
    };
    let groups = match call.params.get("groups") {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Some(Value::String(s)) => s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(Error::bad_input("create: groups must be an array of names or a comma-separated string"));
        }
    };
    let key = call.context.idempotency_key.clone();
    let mut tags: Vec<Tag> = call
        .optional::<Fields>("tags")?
        .unwrap_or_default()
        .into_iter()
        .map(|(key, v)| Tag { key, value: v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()) })
        .collect();
    tags.push(Tag { key: STEP_TAG.into(), value: key.clone() });
    // A retried step finds what its first attempt launched. EC2 itself
    // deduplicates on ClientToken; the tag makes it hold on EC2-compatible
    // endpoints that ignore the token too.
    let filters = [(format!("tag:{STEP_TAG}"), vec![key.clone()])];
    if let Some(existing) = ec2::describe_instances(credentials, region, &[], &filters)?.into_iter().next() {
        log::info(&format!("{} was already launched by this step", existing.instance_id));
        let target = Target { credentials, region, id: existing.instance_id.clone(), wait, timeout, state: "running" };
        return Ok(fields_of(&if wait { target.wait_for()? } else { existing }));
    }
    let request = RunRequest {
        region: region.to_owned(),
        image_id: call.param("image_id")?,
        instance_type,
        key_name: call.optional("key_name")?,
        availability_zone: call.optional("availability_zone")?,
        security_groups: groups,
        security_group_ids: call.optional("security_group_ids")?.unwrap_or_default(),
        subnet_id: call.optional("subnet_id")?,
        user_data: call.optional("user_data")?,
        tags,
        // A retried step reuses the key: EC2 launches at most one instance for it.
        client_token: Some(key),
        count: 1,
    };
    let launched = ec2::run_instances(credentials, &request)?;
    let first = launched.into_iter().next().ok_or_else(|| Error::fatal("create: EC2 launched no instance"))?;
    log::info(&format!("launched {} ({})", first.instance_id, first.state));
    let target = Target { credentials, region, id: first.instance_id.clone(), wait, timeout, state: "running" };
    if !wait {
        return Ok(fields_of(&first));
    }
    // The instance exists even if it never comes up: the error keeps its
    // fields, so the definition's handler can destroy it.
    target.wait_for().map(|i| fields_of(&i)).map_err(|e| e.with_fields(fields_of(&first)))
}

struct Target<'a> {
    credentials: &'a str,
    region: &'a str,
    id: String,
    wait: bool,
    timeout: Duration,
    state: &'static str,
}

impl Target<'_> {
    fn change(&self, action: StateAction) -> Result<Instance> {
        ec2::change_state(self.credentials, self.region, std::slice::from_ref(&self.id), action)?;
        if self.wait && action != StateAction::Reboot {
            self.wait_for()
        } else {
            describe_one(self.credentials, self.region, &self.id)
        }
    }

    /// Polls until the instance reaches the state, backing off to 10 s.
    fn wait_for(&self) -> Result<Instance> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(250);
        loop {
            let instance = describe_one(self.credentials, self.region, &self.id)?;
            if instance.state == self.state {
                return Ok(instance);
            }
            if started.elapsed() >= self.timeout {
                return Err(Error::retryable(format!(
                    "{} is still {} after {}s (waiting for {})",
                    self.id,
                    instance.state,
                    self.timeout.as_secs(),
                    self.state
                )));
            }
            log::progress(&format!("{} is {}, waiting for {}", self.id, instance.state, self.state), None);
            sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(10));
        }
    }
}

fn describe_one(credentials: &str, region: &str, id: &str) -> Result<Instance> {
    ec2::describe_instances(credentials, region, &[id.to_owned()], &[])?
        .into_iter()
        .next()
        .ok_or_else(|| Error::fatal(format!("no instance {id} in {region}")))
}

fn fields_of(i: &Instance) -> Fields {
    let tags: Fields =
        i.tags.iter().filter(|t| t.key != STEP_TAG).map(|t| (t.key.clone(), Value::String(t.value.clone()))).collect();
    let server = json!({
        "instance_id": i.instance_id, "state": i.state, "image_id": i.image_id, "instance_type": i.instance_type,
        "key_name": i.key_name, "availability_zone": i.availability_zone, "public_ip": i.public_ip,
        "private_ip": i.private_ip, "public_dns": i.public_dns, "private_dns": i.private_dns,
        "launch_time": i.launch_time, "subnet_id": i.subnet_id, "vpc_id": i.vpc_id,
        "security_groups": i.security_groups, "tags": tags,
    });
    let mut out = fields! { "server" => server.clone() };
    if let Value::Object(map) = server {
        for key in ["instance_id", "state", "public_ip", "private_ip", "public_dns", "private_dns"] {
            out.insert(key.to_owned(), map.get(key).cloned().unwrap_or(Value::Null));
        }
    }
    out
}

mastermind_sdk::export!(Ec2Server);
