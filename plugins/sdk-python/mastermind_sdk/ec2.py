"""Amazon EC2 through the host: the credentials are a secret the call names
(`secret=aws`), the region must be granted (`ec2=REGION`). Instances are
dicts with the contract's field names (`instance_id`, `state`,
`private_ip`, `tags` as [{"key", "value"}], ...).

    found = ec2.describe_instances("aws", "us-west-2", ["i-0abc"])
    ec2.change_state("aws", "us-west-2", ["i-0abc"], "stop")
"""

from . import _host

_RUN_DEFAULTS = {
    "key_name": None, "availability_zone": None, "security_groups": [], "security_group_ids": [],
    "subnet_id": None, "user_data": None, "tags": [], "client_token": None, "count": 1,
}


def run_instances(credentials: str, region: str, image_id: str, instance_type: str, **options) -> list:
    """Launches `count` instances (default 1); the same `client_token` never
    launches twice. Options: key_name, availability_zone, security_groups,
    security_group_ids, subnet_id, user_data (plain text), tags (a dict),
    client_token, count."""
    unknown = set(options) - set(_RUN_DEFAULTS)
    if unknown:
        raise TypeError(f"run_instances got unknown option(s): {', '.join(sorted(unknown))}")
    request = {**_RUN_DEFAULTS, **options, "region": region, "image_id": image_id, "instance_type": instance_type}
    if isinstance(request["tags"], dict):
        request["tags"] = [{"key": k, "value": v} for k, v in request["tags"].items()]
    return _host.ec2("run_instances", credentials, request)


def describe_instances(credentials: str, region: str, instance_ids=(), filters=None) -> list:
    """The given instances; with no ids, the live ones matching `filters`
    (EC2 filter name to accepted values, e.g. {"tag:Name": ["web"]})."""
    return _host.ec2("describe_instances", credentials, region, list(instance_ids), dict(filters or {}))


def change_state(credentials: str, region: str, instance_ids, action: str) -> list:
    """`start`, `stop`, `reboot` or `terminate` the instances; each change is
    {"instance_id", "previous_state", "current_state"} (a reboot reports none)."""
    if action not in ("start", "stop", "reboot", "terminate"):
        raise ValueError(f"action must be start, stop, reboot or terminate, not {action!r}")
    return _host.ec2("change_state", credentials, region, list(instance_ids), action)
