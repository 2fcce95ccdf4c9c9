// openid-client (npm) as a service would use it: discovery, then a
// client_credentials grant authenticated with private_key_jwt. Prints one
// JSON line: the grant's outcome, or the error exactly as the library
// reports it (its class, code, OAuth error and HTTP status).
import * as client from 'openid-client';

const { ISSUER, CLIENT_ID, KEY_PKCS8_B64, KID, SCOPE } = process.env;
const key = await crypto.subtle.importKey(
  'pkcs8',
  Buffer.from(KEY_PKCS8_B64, 'base64'),
  { name: 'ECDSA', namedCurve: 'P-256' },
  false,
  ['sign'],
);
const config = await client.discovery(
  new URL(ISSUER),
  CLIENT_ID,
  { token_endpoint_auth_method: 'private_key_jwt' },
  client.PrivateKeyJwt({ key, kid: KID }),
  { execute: [client.allowInsecureRequests] },
);
try {
  const tokens = await client.clientCredentialsGrant(config, { scope: SCOPE });
  console.log(JSON.stringify({ ok: true, token_type: tokens.token_type, scope: tokens.scope }));
} catch (e) {
  console.log(JSON.stringify({
    ok: false, name: e.name, code: e.code, error: e.error ?? null, status: e.status ?? null,
  }));
}
