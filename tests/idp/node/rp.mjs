// A relying party on panva's openid-client (OpenID Certified), used as an integrator would:
// its defaults throughout (client_secret_post, PKCE S256, RFC 9207 iss checks), everything
// from discovery. The only option set is allowInsecureRequests: the test provider listens on
// plain loopback HTTP.
//   node rp.mjs authorize STATE_FILE ISSUER CLIENT_ID SECRET REDIRECT_URI  -> prints the URL
//   node rp.mjs register  STATE_FILE ISSUER INITIAL_TOKEN REDIRECT_URI    -> prints the URL
//   node rp.mjs callback  STATE_FILE CALLBACK_URL                          -> prints JSON
import { readFileSync, writeFileSync } from 'node:fs';
import * as client from 'openid-client';

const [command, stateFile, ...args] = process.argv.slice(2);
const options = { execute: [client.allowInsecureRequests] };

async function configure(s) {
  return client.discovery(new URL(s.issuer), s.clientId, s.secret, undefined, options);
}

async function start(s) {
  Object.assign(s, {
    verifier: client.randomPKCECodeVerifier(),
    nonce: client.randomNonce(),
    state: client.randomState(),
  });
  const config = await configure(s);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: s.redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(s.verifier),
    code_challenge_method: 'S256',
    nonce: s.nonce,
    state: s.state,
    prompt: 'consent',
  });
  writeFileSync(stateFile, JSON.stringify(s));
  console.log(url.href);
}

if (command === 'authorize') {
  const [issuer, clientId, secret, redirectUri] = args;
  await start({ issuer, clientId, secret, redirectUri });
} else if (command === 'register') {
  // RFC 7591 registration by openid-client itself, with the operator's initial token.
  const [issuer, initialAccessToken, redirectUri] = args;
  const registered = await client.dynamicClientRegistration(
    new URL(issuer),
    { client_name: 'Registered by openid-client', redirect_uris: [redirectUri] },
    undefined,
    { ...options, initialAccessToken },
  );
  const metadata = registered.clientMetadata();
  await start({
    issuer, redirectUri, clientId: metadata.client_id, secret: metadata.client_secret,
  });
} else if (command === 'callback') {
  const s = JSON.parse(readFileSync(stateFile, 'utf8'));
  const config = await configure(s);
  const tokens = await client.authorizationCodeGrant(config, new URL(args[0]), {
    pkceCodeVerifier: s.verifier,
    expectedNonce: s.nonce,
    expectedState: s.state,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  const introspection = await client.tokenIntrospection(config, refreshed.access_token);
  await client.tokenRevocation(config, refreshed.refresh_token);
  const afterRevocation = await client.tokenIntrospection(config, refreshed.access_token);
  console.log(JSON.stringify({
    claims, userinfo,
    refreshed: { rotated: refreshed.refresh_token !== tokens.refresh_token,
                 id_token_sub: refreshed.claims()?.sub },
    introspection: { active: introspection.active, sub: introspection.sub },
    after_revocation: { active: afterRevocation.active },
    client_id: s.clientId,
  }));
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
