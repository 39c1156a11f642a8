import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import { invalidValue, notFound } from '../../errors.js';
import { randomId } from '../../security/secrets.js';
import { pageOwned, type PageRequest } from '../../storage/paging.js';
import type { CharactersTable, Database } from '../../storage/schema.js';
import type { CharacterInput } from './schemas.js';
import { nameProblem } from '../../visible-text.js';

export interface Character {
  id: string;
  name: string;
  description: string;
  personality: string;
  greeting: string;
  avatar: string | null;
  createdAt: string;
}

function toCharacter(row: CharactersTable): Character {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    personality: row.personality,
    greeting: row.greeting,
    avatar: row.avatar,
    createdAt: new Date(row.created_at).toISOString(),
  };
}

function checkAvatar(avatar: string | null | undefined): string | null | undefined {
  if (avatar === undefined || avatar === null || avatar === '') return avatar === '' ? null : avatar;
  let url: URL;
  try {
    url = new URL(avatar);
  } catch {
    throw invalidValue('avatar', 'avatar must be an absolute http(s) URL or null.');
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || /\s/.test(avatar)) {
    throw invalidValue('avatar', 'avatar must be an absolute http(s) URL or null.');
  }
  return avatar;
}

/** The same limits the JSON schema states, for callers that do not pass through it (the dashboard). */
export const CHARACTER_LIMITS = { name: 100, description: 2000, personality: 4000, greeting: 2000, avatar: 2048 } as const;

function checkLengths(input: CharacterInput): void {
  for (const [name, max] of Object.entries(CHARACTER_LIMITS)) {
    const value = (input as Record<string, unknown>)[name];
    if (typeof value === 'string' && [...value].length > max) throw invalidValue(name, `${name} must be at most ${max} characters.`);
  }
}

function checkName(name: string | undefined): string | undefined {
  const problem = name === undefined ? null : nameProblem(name);
  if (problem) throw invalidValue('name', `name ${problem}`);
  return name;
}

/**
 * Whose characters a call sees: the user's, narrowed by an OAuth token's
 * character choice (SPEC §15) — `characters`, ids or null for all. An API
 * key or the dashboard passes the user alone (every character).
 */
export interface CharacterViewer {
  userId: string;
  characters?: readonly string[] | null;
}

/**
 * The one place a character choice is enforced (SPEC §15): the ids a viewer
 * may see, null for all. A character outside them is, to the viewer, not
 * there: the same 404 (or "no such character") as another user's.
 */
function choiceOf(viewer: CharacterViewer): readonly string[] | null {
  return viewer.characters ?? null;
}

/** The where-clause of a choice: every id, the ids, or none at all (an empty "Only these"; IN () is not SQL). */
function withinChoice(viewer: CharacterViewer) {
  const ids = choiceOf(viewer);
  return (eb: ExpressionBuilder<Database, 'characters'>): Expression<SqlBool> => {
    if (ids === null) return sql<SqlBool>`1 = 1`;
    return ids.length === 0 ? sql<SqlBool>`1 = 0` : eb('id', 'in', [...ids]);
  };
}

/**
 * A user's characters; every query is scoped to the owner, and to the
 * viewer's character choice, so anyone else's — or one outside an app's
 * choice — is a 404.
 */
export class CharactersService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async create(userId: string, input: CharacterInput): Promise<Character> {
    checkLengths(input);
    if (!input.name?.trim()) throw invalidValue('name', 'Give the character a name.');
    const now = this.now();
    const row: CharactersTable = {
      id: randomId('char_'),
      user_id: userId,
      name: checkName(input.name) ?? '',
      description: input.description ?? '',
      personality: input.personality ?? '',
      greeting: input.greeting ?? '',
      avatar: checkAvatar(input.avatar) ?? null,
      created_at: now,
      updated_at: now,
    };
    await this.db.insertInto('characters').values(row).execute();
    return toCharacter(row);
  }

  /** One page of the characters the viewer sees, oldest first (limit, after). */
  async page(viewer: CharacterViewer, request: PageRequest): Promise<{ data: Character[]; hasMore: boolean }> {
    const page = await pageOwned(this.db, 'characters', viewer.userId, request, choiceOf(viewer));
    if (!page) throw invalidValue('after', 'after must be the id of one of your characters, such as the last_id of the previous page.');
    return { data: page.rows.map(toCharacter), hasMore: page.hasMore };
  }

  /** Every character the viewer sees, oldest first. */
  async list(viewer: CharacterViewer): Promise<Character[]> {
    const rows = await this.db.selectFrom('characters').selectAll().where('user_id', '=', viewer.userId).where(withinChoice(viewer)).orderBy('created_at', 'asc').orderBy('id', 'asc').execute();
    return rows.map(toCharacter);
  }

  async get(viewer: CharacterViewer, id: string): Promise<Character> {
    const row = await this.db.selectFrom('characters').selectAll().where('id', '=', id).where('user_id', '=', viewer.userId).where(withinChoice(viewer)).executeTakeFirst();
    if (!row) throw notFound('character');
    return toCharacter(row);
  }

  async update(viewer: CharacterViewer, id: string, input: CharacterInput): Promise<Character> {
    checkLengths(input);
    const changes: Partial<CharactersTable> = { updated_at: this.now() };
    if (input.name !== undefined) changes.name = checkName(input.name);
    if (input.description !== undefined) changes.description = input.description;
    if (input.personality !== undefined) changes.personality = input.personality;
    if (input.greeting !== undefined) changes.greeting = input.greeting;
    if (input.avatar !== undefined) changes.avatar = checkAvatar(input.avatar) ?? null;
    const result = await this.db.updateTable('characters').set(changes).where('id', '=', id).where('user_id', '=', viewer.userId).where(withinChoice(viewer)).executeTakeFirst();
    if (Number(result.numUpdatedRows) === 0) throw notFound('character');
    return this.get(viewer, id);
  }

  async delete(viewer: CharacterViewer, id: string): Promise<void> {
    const result = await this.db.deleteFrom('characters').where('id', '=', id).where('user_id', '=', viewer.userId).where(withinChoice(viewer)).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw notFound('character');
  }
}
