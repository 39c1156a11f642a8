import { pageResponseProperties } from '../../storage/paging.js';
/** JSON schemas of the character object and its first-party CRUD (SPEC §2, §5). */
const text = (max: number, description: string) => ({ type: 'string', maxLength: max, description }) as const;

const fields = {
  name: { type: 'string', minLength: 1, maxLength: 100, description: '1–100 characters.', examples: ['Captain Nova'] },
  description: text(2000, 'Who the character is. Up to 2000 characters.'),
  personality: text(4000, 'How the character behaves. Up to 4000 characters.'),
  greeting: text(2000, 'The first message. Up to 2000 characters.'),
  avatar: { type: ['string', 'null'], maxLength: 2048, description: 'An http(s) image URL, or null.', examples: ['https://example.com/nova.png'] },
} as const;

export const characterObject = {
  type: 'object',
  required: ['id', 'name', 'description', 'personality', 'greeting', 'avatar', 'createdAt'],
  properties: {
    id: { type: 'string', examples: ['char_0f1e2d3c4b5a69788796a5b4c3d2e1f0'] },
    name: { type: 'string' },
    description: { type: 'string' },
    personality: { type: 'string' },
    greeting: { type: 'string' },
    avatar: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const characterList = {
  type: 'object',
  required: ['object', 'data', 'has_more', 'first_id', 'last_id'],
  properties: { object: { type: 'string', enum: ['list'] }, data: { type: 'array', items: characterObject }, ...pageResponseProperties },
} as const;

export const createCharacterBody = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: fields,
  examples: [{ name: 'Captain Nova', description: 'A starship captain', personality: 'Bold, kind', greeting: 'Welcome aboard!', avatar: null }],
} as const;

export const updateCharacterBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: fields,
} as const;

export const characterIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string' } },
} as const;

export interface CharacterInput {
  name?: string;
  description?: string;
  personality?: string;
  greeting?: string;
  avatar?: string | null;
}
