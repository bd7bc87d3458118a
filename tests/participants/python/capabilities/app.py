"""Calls the capabilities through the SDK (plugins/sdk-python), for
tests/polyglot.rs: `ec2` launches two instances, finds them by their tag
and stops them (against moto); `ssh` runs a command on two targets (a real
sshd, and a port where none listens); `refused` calls ssh, chef and ec2 without a
grant and returns what each refusal said, so every request the SDK builds
has crossed into the host.
"""

from mastermind_sdk import Action, Denied, Description, Kind, Participant, chef, ec2, export, ssh

REGION = "us-west-2"


class Capabilities(Participant):
    def describe(self):
        return (
            Description("py_capabilities", "Calls each capability, from Python")
            .action(
                Action("ec2", "Launches two instances tagged `name`, finds them by the tag, stops them")
                .required("name", Kind.STRING, "the Name tag")
            )
            .action(
                Action("ssh", "Runs a command reading stdin on `port`, then on `closed_port` (nothing listens)")
                .required("user", Kind.STRING, "the login")
                .required("port", Kind.INTEGER, "an sshd's port on 127.0.0.1")
                .required("closed_port", Kind.INTEGER, "a port with no sshd")
            )
            .action(Action("refused", "Calls ssh, chef and ec2 without grants; returns each refusal"))
        )

    def invoke(self, call):
        if call.action == "ec2":
            name = call.param("name", str)
            launched = ec2.run_instances("aws", REGION, "ami-fe5bd4ce", "t2.micro", count=2, tags={"Name": name},
                                         client_token=call.context.idempotency_key)
            ids = [i["instance_id"] for i in launched]
            found = ec2.describe_instances("aws", REGION, filters={"tag:Name": [name]})
            changes = ec2.change_state("aws", REGION, ids, "stop")
            return {"launched": sorted(ids), "found": sorted(i["instance_id"] for i in found),
                    "tags": found[0]["tags"], "states": [c["current_state"] for c in changes]}
        if call.action == "ssh":
            user = call.param("user", str)
            results = (ssh.Exec("echo out; cat; echo err >&2; exit 3", "ssh_key").stdin("from stdin")
                       .target("127.0.0.1", call.param("port", int), user)
                       .target("127.0.0.1", call.param("closed_port", int), user).timeout(20).run())
            first, second = results
            return {"stdout": first.stdout, "stderr": first.stderr, "exit_status": first.exit_status,
                    "second": str(second)}
        attempts = {
            "ssh": lambda: ssh.Exec("uptime", "ssh_key").target("10.0.0.5", 22, "deploy").stdin("x").run(),
            "chef": lambda: chef.Server("https://chef.example.com/organizations/acme", "mastermind", "chef_key")
            .get("/nodes"),
            "ec2": lambda: ec2.change_state("aws", REGION, ["i-0abc"], "reboot"),
        }
        refusals = {}
        for capability, attempt in attempts.items():
            try:
                attempt()
            except Denied as e:
                refusals[capability] = e.message
        return refusals


WitWorld = export(Capabilities)
