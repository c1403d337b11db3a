// `hostile-filter` (JavaScript): a filter that misbehaves as configured;
// see ./behaviour.ts. With `huge-output` its error message is the huge
// output; with `none` it delivers. Exported by hand rather than through
// defineFilter, which would turn `panic`'s exception into a plugin error.

import { Config, PluginError, type wit } from '@scaihub/plugin-sdk';
import { behaviour, hugeOutput, misbehave } from './behaviour.ts';

export async function filter(_event: wit.Event, config: string): Promise<wit.Verdict> {
  const b = behaviour(new Config(config));
  await misbehave(b);
  if (b.name === 'huge-output') {
    throw PluginError.failed(new TextDecoder().decode(hugeOutput(b.bytes)));
  }
  if (b.name === 'unreachable') {
    // Not a case of `verdict`: lowering it fails inside the bindings.
    return 'explode' as wit.Verdict;
  }
  return 'deliver';
}
