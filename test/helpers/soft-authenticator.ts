import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A WebAuthn authenticator in the test process: an ES256 key per credential, answers built byte by byte as
 * WebAuthn Level 2 §6.1 (authenticator data) and §6.5 (attestation "none") lay them out, so a test can get
 * every field wrong on purpose: the origin, the RP ID, the flags, the counter.
 */

type Cbor = number | string | Uint8Array | Map<number, Cbor> | { [key: string]: Cbor };

/** RFC 8949 deterministic-enough CBOR for the few types an attestation object uses. */
function cbor(value: Cbor): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') return Buffer.concat([head(3, Buffer.byteLength(value)), Buffer.from(value)]);
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), value]);
  const entries: Array<[number | string, Cbor]> = value instanceof Map ? [...value] : Object.entries(value);
  return Buffer.concat([head(5, entries.length), ...entries.flatMap(([k, v]) => [cbor(k), cbor(v)])]);
}

const b64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();

/** Authenticator data flags (WebAuthn §6.1): user present, user verified, backup eligible and state, attested data. */
const UP = 0x01;
const UV = 0x04;
const AT = 0x40;

export interface Answer {
  /** What the test may change: where the "browser" says it is, the RP ID it hashed, whether the user was verified. */
  origin?: string;
  rpId?: string;
  userVerified?: boolean;
  /** The signature counter to report (else the credential's next one). */
  counter?: number;
}

export class SoftCredential {
  readonly id = randomBytes(16);
  private readonly privateKey: KeyObject;
  private readonly publicKey: KeyObject;
  /** The counter last reported; each answer reports one more (0 stays 0: an authenticator without one, as synced passkeys are). */
  counter: number;

  constructor(
    private readonly rp: { id: string; origin: string },
    readonly userHandle: string,
    options: { counter?: number } = {},
  ) {
    ({ privateKey: this.privateKey, publicKey: this.publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }));
    this.counter = options.counter ?? 1;
  }

  private authData(answer: Answer, attested: boolean): Buffer {
    const flags = UP | (answer.userVerified === false ? 0 : UV) | (attested ? AT : 0);
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(answer.counter ?? this.counter);
    const parts: Buffer[] = [sha256(answer.rpId ?? this.rp.id), Buffer.from([flags]), counter];
    if (attested) {
      const jwk = this.publicKey.export({ format: 'jwk' });
      // RFC 9053 §7.1.1: an EC2 COSE key, P-256, ES256.
      const cose = new Map<number, Cbor>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]);
      const length = Buffer.alloc(2);
      length.writeUInt16BE(this.id.length);
      parts.push(Buffer.alloc(16), length, this.id, cbor(cose));
    }
    return Buffer.concat(parts);
  }

  private clientData(type: 'webauthn.create' | 'webauthn.get', challenge: string, answer: Answer): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin: answer.origin ?? this.rp.origin, crossOrigin: false }));
  }

  /** navigator.credentials.create()'s answer to registration options, as @simplewebauthn/browser serializes it. */
  register(challenge: string, answer: Answer = {}): string {
    const attestationObject = cbor({ fmt: 'none', attStmt: {}, authData: this.authData(answer, true) });
    return JSON.stringify({
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: { clientDataJSON: b64url(this.clientData('webauthn.create', challenge, answer)), attestationObject: b64url(attestationObject), transports: ['internal'] },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    });
  }

  /** navigator.credentials.get()'s answer: the authenticator data and clientDataJSON's hash, signed (WebAuthn §6.3.3). */
  authenticate(challenge: string, answer: Answer = {}): string {
    if (answer.counter === undefined && this.counter > 0) this.counter++;
    const authData = this.authData(answer, false);
    const clientData = this.clientData('webauthn.get', challenge, answer);
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientData)]), this.privateKey);
    return JSON.stringify({
      id: b64url(this.id),
      rawId: b64url(this.id),
      type: 'public-key',
      response: { clientDataJSON: b64url(clientData), authenticatorData: b64url(authData), signature: b64url(signature), userHandle: b64url(this.userHandle) },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    });
  }
}
