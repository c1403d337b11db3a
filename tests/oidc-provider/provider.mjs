// A real OpenID Connect provider for ScaiHub's integration tests: panva's
// oidc-provider (certified by the OpenID Foundation), on 127.0.0.1 and a
// free port, with one confidential client for ScaiHub and a few people.
//
// Settings come from the environment:
//   OIDC_CLIENT_ID, OIDC_CLIENT_SECRET  the client ScaiHub signs in as
//   OIDC_REDIRECT_URI                   ScaiHub's callback
//   OIDC_AUTH_METHOD                    client_secret_basic (default) or client_secret_post
//   OIDC_ID_TOKEN_ALG                   RS256 (default) or ES256
//   OIDC_ACCOUNTS                       JSON: {"login": {"email": …, "email_verified": …}}
//
// Its first line on stdout is {"issuer": "http://127.0.0.1:PORT"}. People
// sign in on the provider's own (development) login page with their login
// and any password; consent is given once for them (a first-party client),
// so the browser comes straight back to ScaiHub.

import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) {
    console.error(`provider.mjs: ${name} is required`);
    process.exit(2);
  }
  return value;
};

const accounts = JSON.parse(env('OIDC_ACCOUNTS', '{}'));
const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

// Fresh signing keys for every run: nothing is checked in.
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  clients: [{
    client_id: env('OIDC_CLIENT_ID'),
    client_secret: env('OIDC_CLIENT_SECRET'),
    redirect_uris: [env('OIDC_REDIRECT_URI')],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: env('OIDC_AUTH_METHOD', 'client_secret_basic'),
    id_token_signed_response_alg: env('OIDC_ID_TOKEN_ALG', 'RS256'),
  }],
  jwks: {
    keys: [
      { ...rsa, kid: 'test-rsa', alg: 'RS256', use: 'sig' },
      { ...ec, kid: 'test-ec', alg: 'ES256', use: 'sig' },
    ],
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // The email claims go into the ID token itself, which ScaiHub verifies.
  conformIdTokenClaims: false,
  cookies: { keys: ['scaihub-test-provider-cookies'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const known = accounts[id];
    return {
      accountId: id,
      async claims() {
        return known ? { sub: id, ...known } : { sub: id };
      },
    };
  },
  // Consent once, for everyone: ScaiHub is the provider's own client here.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email');
    await grant.save();
    return grant;
  },
});

server.on('request', provider.callback());
// The test may stop reading our output; that must not stop us.
process.stdout.on('error', () => {});
console.log(JSON.stringify({ issuer }));

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The test holds our stdin: when it goes away, so do we.
process.stdin.on('end', stop);
process.stdin.resume();
