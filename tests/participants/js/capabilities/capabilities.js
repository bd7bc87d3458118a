// Calls the capabilities through the SDK (plugins/sdk-js), for
// tests/polyglot.rs: `ec2` launches two instances, finds them by their tag
// and stops them (against moto); `refused` calls ssh, chef and ec2 without a
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
