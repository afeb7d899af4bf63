// A relying party on panva's openid-client (OpenID Certified), used as an integrator would.
//   node rp.mjs authorize STATE_FILE ISSUER CLIENT_ID SECRET REDIRECT_URI  -> prints the URL
//   node rp.mjs callback  STATE_FILE CALLBACK_URL                          -> prints JSON
import { readFileSync, writeFileSync } from 'node:fs';
import * as client from 'openid-client';

const [command, stateFile, ...args] = process.argv.slice(2);

async function configure(s) {
  // The method the client registered with: OneTrip accepts only that one (RFC 7591 2), and
  // openid-client would default to client_secret_post.
  const auth = client.ClientSecretBasic(s.secret);
  return client.discovery(new URL(s.issuer), s.clientId, s.secret, auth, {
    execute: [client.allowInsecureRequests], // the test provider listens on plain loopback HTTP
  });
}

if (command === 'authorize') {
  const [issuer, clientId, secret, redirectUri] = args;
  const s = {
    issuer, clientId, secret, redirectUri,
    verifier: client.randomPKCECodeVerifier(),
    nonce: client.randomNonce(),
    state: client.randomState(),
  };
  const config = await configure(s);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    code_challenge: await client.calculatePKCECodeChallenge(s.verifier),
    code_challenge_method: 'S256',
    nonce: s.nonce,
    state: s.state,
    prompt: 'consent',
  });
  writeFileSync(stateFile, JSON.stringify(s));
  console.log(url.href);
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
  }));
} else {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
