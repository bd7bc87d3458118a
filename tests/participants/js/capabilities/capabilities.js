// Calls the capabilities through the SDK (plugins/sdk-js), for
// tests/polyglot.rs: `ec2` launches two instances, finds them by their tag
// and stops them (against moto); `ssh` runs a command on two targets (a real
// sshd, and a port where none listens); `refused` calls ssh, chef and ec2 without a
// grant and returns what each refusal said, so every request the SDK builds
// has crossed into the host.
import {
  Action, Denied, Description, Kind, chef, ec2, participant, ssh,
} from '../../../../plugins/sdk-js/mastermind-sdk.js';

const REGION = 'us-west-2';

export const { describe, invoke } = participant({
  describe: () => new Description('js_capabilities', 'Calls each capability, from JavaScript')
    .action(new Action('ec2', 'Launches two instances tagged `name`, finds them by the tag, stops them')
      .required('name', Kind.STRING, 'the Name tag'))
    .action(new Action('ssh', 'Runs a command reading stdin on `port`, then on `closed_port` (nothing listens)')
      .required('user', Kind.STRING, 'the login')
      .required('port', Kind.INTEGER, "an sshd's port on 127.0.0.1")
      .required('closed_port', Kind.INTEGER, 'a port with no sshd'))
    .action(new Action('refused', 'Calls ssh, chef and ec2 without grants; returns each refusal')),

  invoke(call) {
    if (call.action === 'ec2') {
      const name = call.param('name', Kind.STRING);
      const launched = ec2.runInstances('aws', REGION, 'ami-fe5bd4ce', 't2.micro', {
        count: 2, tags: { Name: name }, clientToken: call.context.idempotencyKey,
      });
      const ids = launched.map((i) => i.instanceId);
      const found = ec2.describeInstances('aws', REGION, [], { 'tag:Name': [name] });
      const changes = ec2.changeState('aws', REGION, ids, 'stop');
      return {
        launched: ids.sort(), found: found.map((i) => i.instanceId).sort(), tags: found[0].tags,
        states: changes.map((c) => c.currentState),
      };
    }
    if (call.action === 'ssh') {
      const user = call.param('user', Kind.STRING);
      const [first, second] = new ssh.Exec('echo out; cat; echo err >&2; exit 3', 'ssh_key').stdin('from stdin')
        .target('127.0.0.1', call.param('port', Kind.INTEGER), user)
        .target('127.0.0.1', call.param('closed_port', Kind.INTEGER), user).timeout(20).run();
      return { stdout: first.stdout, stderr: first.stderr, exit_status: first.exitStatus, second: String(second) };
    }
    const attempts = {
      ssh: () => new ssh.Exec('uptime', 'ssh_key').target('10.0.0.5', 22, 'deploy').stdin('x').run(),
      chef: () => new chef.Server('https://chef.example.com/organizations/acme', 'mastermind', 'chef_key').get('/nodes'),
      ec2: () => ec2.changeState('aws', REGION, ['i-0abc'], 'reboot'),
    };
    const refusals = {};
    for (const [capability, attempt] of Object.entries(attempts)) {
      try {
        attempt();
      } catch (e) {
        if (!(e instanceof Denied)) throw e;
        refusals[capability] = e.message;
      }
    }
    return refusals;
  },
});
