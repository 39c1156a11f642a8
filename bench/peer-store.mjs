// Stores for the peer (node-oidc-provider): its seven-method adapter interface
// over one table, the shape of the community adapters (knex, sequelize,
// prisma: id + type key, the payload as JSON, grantId/userCode/uid indexed,
// an expiry, a consumed time). SQLite as Serika's embedded store is set up
// (WAL, synchronous=NORMAL), PostgreSQL with a pool of 10 like Serika's
// default DATABASE_POOL_SIZE, so both sides pay for the same durability.
import Database from 'better-sqlite3';
import pg from 'pg';

const TABLE = `create table if not exists oidc_payloads (
  id text not null, type text not null, payload text not null,
  grant_id text, user_code text, uid text, expires_at bigint, consumed_at bigint,
  primary key (id, type))`;
const INDEXES = ['grant_id', 'user_code', 'uid'].map((c) => `create index if not exists oidc_payloads_${c} on oidc_payloads (${c})`);
const nowSeconds = () => Math.floor(Date.now() / 1000);

/** What find() answers for a row: the payload, marked consumed when it was, nothing once expired. */
function found(row) {
  if (!row || (row.expires_at !== null && Number(row.expires_at) < nowSeconds())) return undefined;
  const payload = JSON.parse(row.payload);
  return row.consumed_at === null ? payload : { ...payload, consumed: Number(row.consumed_at) };
}

const fields = (id, type, payload, expiresIn) => [id, type, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresIn ? nowSeconds() + expiresIn : null];

function sqliteAdapter(path) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(TABLE);
  for (const index of INDEXES) db.exec(index);
  const q = {
    upsert: db.prepare(`insert into oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at) values (?, ?, ?, ?, ?, ?, ?)
      on conflict (id, type) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`),
    find: db.prepare('select payload, expires_at, consumed_at from oidc_payloads where id = ? and type = ?'),
    findBy: Object.fromEntries(['user_code', 'uid'].map((c) => [c, db.prepare(`select payload, expires_at, consumed_at from oidc_payloads where ${c} = ? and type = ?`)])),
    consume: db.prepare('update oidc_payloads set consumed_at = ? where id = ? and type = ?'),
    destroy: db.prepare('delete from oidc_payloads where id = ? and type = ?'),
    revoke: db.prepare('delete from oidc_payloads where grant_id = ? and type = ?'),
  };
  class SqliteAdapter {
    constructor(type) { this.type = type; }
    async upsert(id, payload, expiresIn) { q.upsert.run(...fields(id, this.type, payload, expiresIn)); }
    async find(id) { return found(q.find.get(id, this.type)); }
    async findByUserCode(code) { return found(q.findBy.user_code.get(code, this.type)); }
    async findByUid(uid) { return found(q.findBy.uid.get(uid, this.type)); }
    async consume(id) { q.consume.run(nowSeconds(), id, this.type); }
    async destroy(id) { q.destroy.run(id, this.type); }
    async revokeByGrantId(grantId) { q.revoke.run(grantId, this.type); }
  }
  return { Adapter: SqliteAdapter, close: async () => db.close() };
}

async function postgresAdapter(url) {
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query(TABLE);
  for (const index of INDEXES) await pool.query(index);
  const one = async (text, values) => (await pool.query({ name: text.slice(0, 60), text, values })).rows[0];
  const select = 'select payload, expires_at, consumed_at from oidc_payloads';
  class PostgresAdapter {
    constructor(type) { this.type = type; }
    async upsert(id, payload, expiresIn) {
      await pool.query({
        name: 'peer_upsert',
        text: `insert into oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at) values ($1, $2, $3, $4, $5, $6, $7)
          on conflict (id, type) do update set payload = excluded.payload, grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid, expires_at = excluded.expires_at`,
        values: fields(id, this.type, payload, expiresIn),
      });
    }
    async find(id) { return found(await one(`${select} where id = $1 and type = $2`, [id, this.type])); }
    async findByUserCode(code) { return found(await one(`${select} where user_code = $1 and type = $2`, [code, this.type])); }
    async findByUid(uid) { return found(await one(`${select} where uid = $1 and type = $2`, [uid, this.type])); }
    async consume(id) { await pool.query({ name: 'peer_consume', text: 'update oidc_payloads set consumed_at = $1 where id = $2 and type = $3', values: [nowSeconds(), id, this.type] }); }
    async destroy(id) { await pool.query({ name: 'peer_destroy', text: 'delete from oidc_payloads where id = $1 and type = $2', values: [id, this.type] }); }
    async revokeByGrantId(grantId) { await pool.query({ name: 'peer_revoke', text: 'delete from oidc_payloads where grant_id = $1 and type = $2', values: [grantId, this.type] }); }
  }
  return { Adapter: PostgresAdapter, close: () => pool.end() };
}

/** A plain Map store: the library's default memory adapter is an LRU capped at 1000 entries, which would evict the codes minted for the run. */
function memoryAdapter() {
  const stores = new Map();
  class MapAdapter {
    constructor(name) {
      if (!stores.has(name)) stores.set(name, new Map());
      this.store = stores.get(name);
    }
    async upsert(id, payload) { this.store.set(id, { ...payload }); }
    async find(id) { return this.store.get(id); }
    async findByUid(uid) { for (const v of this.store.values()) if (v.uid === uid) return v; return undefined; }
    async findByUserCode(code) { for (const v of this.store.values()) if (v.userCode === code) return v; return undefined; }
    async consume(id) { const v = this.store.get(id); if (v) v.consumed = nowSeconds(); }
    async destroy(id) { this.store.delete(id); }
    async revokeByGrantId(grantId) { for (const [k, v] of this.store) if (v.grantId === grantId) this.store.delete(k); }
  }
  return { Adapter: MapAdapter, close: async () => {} };
}

/** `memory`, `sqlite:PATH` or a postgres:// URL. */
export async function peerStore(spec = 'memory') {
  if (spec === 'memory') return memoryAdapter();
  if (spec.startsWith('sqlite:')) return sqliteAdapter(spec.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(spec)) return postgresAdapter(spec);
  throw new Error(`peer store: ${spec} is not memory, sqlite:PATH or postgres://…`);
}
