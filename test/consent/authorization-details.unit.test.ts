import { describe, expect, it } from 'vitest';
import { grantedDetailsOf, parseAuthorizationDetails } from '../../src/consent/authorization-details.js';
import { InvalidAuthorizationDetails } from '../../src/consent/budget-rules.js';
import { charactersWiderThan, effectiveChoice } from '../../src/consent/character-choice.js';
import { parseForm } from '../../src/http/form-body.js';
import { readCharacterChoice } from '../../src/web/views/character-choice.js';

describe('serika_characters details (SPEC §15, RFC 9396)', () => {
  it('reads ids (each once) beside a budget; members RFC 9396 §2 defines are left alone, as serika_budget leaves them', () => {
    expect(parseAuthorizationDetails('[{"type":"serika_characters","ids":["char_a","char_b","char_a"]}]')).toEqual({ budget: null, characters: ['char_a', 'char_b'] });
    expect(parseAuthorizationDetails('[{"type":"serika_characters","ids":[],"locations":["https://x.example"]},{"type":"serika_budget","tokens":5}]')).toEqual({
      budget: { tokens: 5, images: null, period: 'month' },
      characters: [],
    });
    expect(parseAuthorizationDetails('[]')).toEqual({ budget: null, characters: null });
  });

  it.each([
    ['no ids', '[{"type":"serika_characters"}]'],
    ['ids a string', '[{"type":"serika_characters","ids":"char_a"}]'],
    ['ids an object', '[{"type":"serika_characters","ids":{"0":"char_a"}}]'],
    ['a number id', '[{"type":"serika_characters","ids":[1]}]'],
    ['a null id', '[{"type":"serika_characters","ids":[null]}]'],
    ['an empty id', '[{"type":"serika_characters","ids":[""]}]'],
    ['an id with a space', '[{"type":"serika_characters","ids":["char a"]}]'],
    ['an id of 101 characters', `[{"type":"serika_characters","ids":["${'a'.repeat(101)}"]}]`],
    ['201 ids', JSON.stringify([{ type: 'serika_characters', ids: Array.from({ length: 201 }, (_, i) => `c${i}`) }])],
    ['two entries', '[{"type":"serika_characters","ids":["a"]},{"type":"serika_characters","ids":["b"]}]'],
    ['the type misspelt', '[{"type":"serika_character","ids":["a"]}]'],
  ])('%s → invalid_authorization_details', (_name, raw) => {
    expect(() => parseAuthorizationDetails(raw)).toThrow(InvalidAuthorizationDetails);
  });

  it('echoes "Only these" as an entry and "all" as none', () => {
    expect(grantedDetailsOf(null, ['char_a'])).toEqual([{ type: 'serika_characters', ids: ['char_a'] }]);
    expect(grantedDetailsOf(null, [])).toEqual([{ type: 'serika_characters', ids: [] }]);
    expect(grantedDetailsOf(null, null)).toBeUndefined();
    expect(grantedDetailsOf({ tokens: 1, images: null, period: 'day' }, null)).toEqual([{ type: 'serika_budget', tokens: 1, period: 'day' }]);
  });

  it('a token sees its grant\'s choice narrowed by its own; an exchange may only narrow', () => {
    expect(effectiveChoice(null, null)).toBeNull();
    expect(effectiveChoice(['a', 'b'], null)).toEqual(['a', 'b']);
    expect(effectiveChoice(null, ['b'])).toEqual(['b']);
    // The user narrowed the grant after the exchange: the child loses what the grant lost.
    expect(effectiveChoice(['a'], ['a', 'b'])).toEqual(['a']);
    expect(charactersWiderThan(['a', 'zz'], null)).toBeNull();
    expect(charactersWiderThan(['a'], ['a', 'b'])).toBeNull();
    expect(charactersWiderThan(['a', 'c'], ['a', 'b'])).toContain('c');
    expect(charactersWiderThan(['a'], [])).not.toBeNull();
  });

  it('the form: "all", or the ticked ids that are the user\'s own; absent when the page had no fieldset', () => {
    const owned = ['char_a', 'char_b', 'char_c'];
    expect(readCharacterChoice(parseForm('characters=all&character_ids=char_a'), owned)).toBeNull();
    expect(readCharacterChoice(parseForm('characters=only&character_ids=char_c&character_ids=char_a&character_ids=char_x'), owned)).toEqual(['char_a', 'char_c']);
    expect(readCharacterChoice(parseForm('characters=only'), owned)).toEqual([]);
    expect(readCharacterChoice(parseForm('budget=none'), owned)).toBeUndefined();
    expect(() => readCharacterChoice(parseForm('characters=some'), owned)).toThrow(/All my characters/);
  });
});
