// `hostile-transform` (JavaScript): a transform that misbehaves as
// configured; see ./behaviour.ts. With `huge-output` it returns a body of
// that many bytes; with `none` it returns the request unchanged. Exported
// by hand rather than through defineTransform, which would turn `panic`'s
// exception into a plugin error.

import { Config, PluginError, type wit } from '@scaihub/plugin-sdk';
import { behaviour, hugeOutput, misbehave } from './behaviour.ts';

export async function transform(
  _event: wit.Event,
  request: wit.OutgoingRequest,
  config: string,
): Promise<wit.OutgoingRequest> {
  const b = behaviour(new Config(config));
  await misbehave(b);
  if (b.name === 'huge-output') {
    return { body: hugeOutput(b.bytes), headers: request.headers, contentType: 'text/plain' };
  }
  if (b.name === 'unreachable') {
    // Not a `plugin-error` case: lowering it fails inside the bindings.
    throw { payload: { tag: 'no-such-case', val: 'x' } };
  }
  if (b.name !== 'none' && b.name !== 'sleep') {
    throw PluginError.failed(`behaviour ${b.name} returned, which it cannot`);
  }
  return request;
}
