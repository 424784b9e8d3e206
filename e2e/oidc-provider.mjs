// A real OpenID provider (the `oidc-provider` package) for Roster's single sign-on tests,
// run by crates/web/tests/http/oidc.rs. Plain HTTP on loopback; everything in memory.
//
// Env:
//   PORT           port on 127.0.0.1; 0 or unset lets the system pick a free one (no race).
//                  The issuer is `http://127.0.0.1:<port>` (no trailing slash).
//   CLIENT_ID, CLIENT_SECRET, REDIRECT_URI
//                  the one confidential client: response type `code`, grant
//                  `authorization_code`, PKCE S256 required, client_secret_basic or
//                  client_secret_post at the token endpoint.
//   ACCOUNTS       JSON {"<login>": {"email": "...", "email_verified": true, "name": "..."}};
//                  the login is the subject (`sub`).
//   TAMPER         unset, empty or `none`: honest ID tokens. Otherwise the token endpoint's
//                  ID token is altered and re-signed with the provider's own key:
//                  `audience` (aud is another client), `nonce` (another nonce), `issuer`
//                  (another issuer), `expired` (exp in the past), `signature` (a broken
//                  signature), `alg-none` (unsigned, alg "none").
//
// Sign-in is the built-in development page (devInteractions): a form posting `login` and
// `password` to /interaction/<uid>. Any password is accepted for a login in ACCOUNTS; an
// unknown login gets a 400 page (error access_denied). Consent is never asked: the client
// is pre-granted `openid email profile`. The ID token carries email, email_verified and
// name (conformIdTokenClaims: false).
//
// Prints `listening http://127.0.0.1:<port>` on stdout when ready (the package's own
// notices go to stdout too, so look for that line). Exits when stdin closes or on SIGTERM.

import { createServer } from 'node:http';
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`oidc-provider.mjs: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const CLIENT_ID = required('CLIENT_ID');
const CLIENT_SECRET = required('CLIENT_SECRET');
const REDIRECT_URI = required('REDIRECT_URI');
let ACCOUNTS;
try {
  ACCOUNTS = JSON.parse(required('ACCOUNTS'));
  if (ACCOUNTS === null || typeof ACCOUNTS !== 'object' || Array.isArray(ACCOUNTS)) {
    throw new Error('not a JSON object');
  }
} catch (err) {
  console.error(`oidc-provider.mjs: ACCOUNTS is not a JSON object of accounts: ${err.message}`);
  process.exit(2);
}
const TAMPERS = ['audience', 'nonce', 'issuer', 'expired', 'signature', 'alg-none'];
const TAMPER = ['', 'none'].includes(process.env.TAMPER ?? '') ? null : process.env.TAMPER;
if (TAMPER !== null && !TAMPERS.includes(TAMPER)) {
  console.error(`oidc-provider.mjs: TAMPER=${TAMPER} is not one of none, ${TAMPERS.join(', ')}`);
  process.exit(2);
}
const OIDC_SCOPE = 'openid email profile';

// Stop with the test that started us: stdin closing means the parent is gone.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));

// The signing key: our own, so that TAMPER can re-sign what the provider issued.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = {
  ...privateKey.export({ format: 'jwk' }),
  kid: createHash('sha256').update(randomBytes(16)).digest('hex').slice(0, 16),
  alg: 'RS256',
  use: 'sig',
};

function account(login) {
  if (!Object.hasOwn(ACCOUNTS, login)) return undefined;
  const entry = ACCOUNTS[login] ?? {};
  return {
    accountId: login,
    async claims() {
      const claims = { sub: login };
      if (entry.email !== undefined) claims.email = entry.email;
      if (entry.email_verified !== undefined) claims.email_verified = entry.email_verified;
      if (entry.name !== undefined) claims.name = entry.name;
      return claims;
    },
  };
}

const b64url = (value) => Buffer.from(value).toString('base64url');
const jsonPart = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));

/** The ID token, altered as TAMPER says and signed again with the provider's key. */
function tamper(idToken, issuer) {
  const [headerPart, payloadPart] = idToken.split('.');
  const header = jsonPart(headerPart);
  const payload = jsonPart(payloadPart);
  const now = Math.floor(Date.now() / 1000);
  switch (TAMPER) {
    case 'audience': payload.aud = `${CLIENT_ID}-someone-else`; break;
    case 'nonce': payload.nonce = `tampered-${payload.nonce ?? ''}`; break;
    case 'issuer': payload.iss = `${issuer}/someone-else`; break;
    case 'expired': payload.iat = now - 1200; payload.exp = now - 600; break;
    default: break;
  }
  if (TAMPER === 'alg-none') {
    return `${b64url(JSON.stringify({ alg: 'none', typ: header.typ ?? 'JWT' }))}.${b64url(JSON.stringify(payload))}.`;
  }
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = sign('sha256', Buffer.from(input), createPrivateKey({ key: signingJwk, format: 'jwk' }));
  if (TAMPER === 'signature') signature[0] ^= 0xff;
  return `${input}.${b64url(signature)}`;
}

const server = createServer();
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      // client_secret_post is accepted too for a secret-based client.
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    jwks: { keys: [signingJwk] },
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    scopes: ['openid', 'email', 'profile'],
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    // Scope claims in the ID token itself, not only at the userinfo endpoint.
    conformIdTokenClaims: false,
    findAccount: (ctx, sub) => account(sub),
    // No consent screen: the one client is pre-granted the OpenID scopes.
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId
        || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      if (ctx.oidc.client.clientId !== CLIENT_ID || !ctx.oidc.session.accountId) return undefined;
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope(OIDC_SCOPE);
      await grant.save();
      return grant;
    },
    features: {
      devInteractions: { enabled: true },
    },
    // Plain HTTP on loopback: unsigned-by-TLS, so sign the cookies and keep them Lax and
    // not `Secure` (a `SameSite=None` cookie needs `Secure`).
    cookies: {
      keys: [randomBytes(32).toString('hex')],
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 600,
      Interaction: 600,
      Session: 3600,
      Grant: 3600,
    },
    async renderError(ctx, out) {
      const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
      ctx.type = 'html';
      ctx.body = `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>`
        + `<body><h1>Sign-in error</h1>${Object.entries(out)
          .map(([key, value]) => `<p><strong>${escape(key)}</strong>: <span class="${escape(key)}">${escape(value)}</span></p>`)
          .join('')}</body></html>`;
    },
  });

  // The development login page accepts any login; refuse the ones not in ACCOUNTS (its
  // submit handler calls interactionFinished with the login as account id).
  const interactionFinished = provider.interactionFinished.bind(provider);
  provider.interactionFinished = async (req, res, result, options) => {
    const accountId = result?.login?.accountId;
    if (accountId !== undefined && account(accountId) === undefined) {
      throw new errors.AccessDenied('unknown login');
    }
    return interactionFinished(req, res, result, options);
  };

  if (TAMPER !== null) {
    provider.use(async (ctx, next) => {
      await next();
      if (ctx.path === '/token' && ctx.status === 200 && typeof ctx.body?.id_token === 'string') {
        ctx.body = { ...ctx.body, id_token: tamper(ctx.body.id_token, issuer) };
      }
    });
  }

  server.on('request', provider.callback());
  console.log(`listening ${issuer}`);
});
server.on('error', (err) => {
  console.error(`oidc-provider.mjs: ${err.message}`);
  process.exit(1);
});
