import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Encryption at rest of the keys Serika keeps in its database (SPEC §1, §6:
 * KEY_ENCRYPTION_SECRETS), modelled on ORY Hydra's SECRETS_SYSTEM: values are
 * sealed under the first secret and opened by whichever configured secret
 * sealed them, so a new secret can be put first and the values re-sealed
 * (`serika secrets reencrypt`) while instances still open the old ones.
 *
 * A sealed value describes itself, one line of text in the column the plain
 * value would take:
 *
 *     serika-sealed:1:<fingerprint>:<iv>:<ciphertext>:<tag>     (base64url fields)
 *
 * - AES-256-GCM (NIST SP 800-38D) with a random 96-bit IV per value;
 * - the key is HKDF-SHA256 (RFC 5869) of the secret, so a secret of any
 *   form (≥ 32 characters) gives a uniform 256-bit key;
 * - the fingerprint names the secret that sealed it (a second HKDF output,
 *   not the secret or the key);
 * - the additional authenticated data is the format, the fingerprint and the
 *   value's context (its table, column and row), so a sealed value copied
 *   into another row does not open.
 */
const SEALED_PREFIX = 'serika-sealed:';
const VERSION = '1';
const HKDF_SALT = 'serika key encryption';
const IV_BYTES = 12;

export class KeyEncryptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyEncryptionError';
  }
}

interface DerivedKey {
  readonly fingerprint: string;
  readonly key: Buffer;
}

function derive(secret: string): DerivedKey {
  const ikm = Buffer.from(secret, 'utf8');
  return {
    key: Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, 'aes-256-gcm key v1', 32)),
    fingerprint: Buffer.from(hkdfSync('sha256', ikm, HKDF_SALT, 'fingerprint v1', 9)).toString('base64url'),
  };
}

function aad(fingerprint: string, context: SealContext): Buffer {
  return Buffer.from(`${SEALED_PREFIX}${VERSION}:${fingerprint}:${context.aad}`, 'utf8');
}

/** What a value is sealed for: the authenticated data binding it to its row, and how messages name it. */
export interface SealContext {
  readonly aad: string;
  readonly label: string;
}

export function isSealed(stored: string): boolean {
  return stored.startsWith(SEALED_PREFIX);
}

/** The secrets of KEY_ENCRYPTION_SECRETS, derived once: seal under the first, open under any. */
export class KeyEncryption {
  private readonly keys: readonly DerivedKey[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map(derive);
  }

  /** Whether values are sealed at all (KEY_ENCRYPTION_SECRETS set). */
  get enabled(): boolean {
    return this.keys.length > 0;
  }

  /** The fingerprint of the secret that seals (the first), or null when none is set. */
  get sealingFingerprint(): string | null {
    return this.keys[0]?.fingerprint ?? null;
  }

  /** What every value sealed under the first secret starts with (so SQL can count the others). */
  get currentPrefix(): string | null {
    const first = this.keys[0];
    return first ? `${SEALED_PREFIX}${VERSION}:${first.fingerprint}:` : null;
  }

  /** The value as it is to be stored: sealed under the first secret, or as it is when none is set. */
  seal(plaintext: string, context: SealContext): string {
    const first = this.keys[0];
    if (!first) return plaintext;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', first.key, iv);
    cipher.setAAD(aad(first.fingerprint, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [`${SEALED_PREFIX}${VERSION}`, first.fingerprint, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join(':');
  }

  /**
   * The plain value of a stored one: a plain value (stored before a secret was
   * set) is returned as it is; a sealed one is opened by the secret that sealed
   * it, or a KeyEncryptionError names KEY_ENCRYPTION_SECRETS.
   */
  open(stored: string, context: SealContext): string {
    if (!isSealed(stored)) return stored;
    const [format, fingerprint = '', iv = '', ciphertext = '', tag = '', ...rest] = stored.split(':').slice(1);
    if (format !== VERSION || rest.length > 0) throw new KeyEncryptionError(`${context.label} is sealed in a format this version of Serika does not know`);
    const key = this.keys.find((k) => k.fingerprint === fingerprint);
    if (!key) {
      throw new KeyEncryptionError(
        this.enabled
          ? `${context.label} is sealed under a secret that is not in KEY_ENCRYPTION_SECRETS (fingerprint ${fingerprint}); add that secret to the list`
          : `${context.label} is sealed under a KEY_ENCRYPTION_SECRETS secret (fingerprint ${fingerprint}), but KEY_ENCRYPTION_SECRETS is not set`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.key, Buffer.from(iv, 'base64url'), { authTagLength: 16 });
      decipher.setAAD(aad(fingerprint, context));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyEncryptionError(
        `${context.label} does not open with its KEY_ENCRYPTION_SECRETS secret (fingerprint ${fingerprint}): it was altered, or copied from another row`,
      );
    }
  }

  /** Whether a stored value is as seal() would store it now (under the first secret; plain when none is set). */
  isCurrent(stored: string): boolean {
    const prefix = this.currentPrefix;
    return prefix === null ? !isSealed(stored) : stored.startsWith(prefix);
  }
}
