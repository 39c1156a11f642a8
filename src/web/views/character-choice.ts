import type { CharacterChoice } from '../../consent/character-choice.js';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { html, type Html } from '../html.js';

/** A character as the fieldset lists it. */
export interface NamedCharacter {
  id: string;
  name: string;
}

/**
 * SPEC §15's "Which characters may <App> see?" on the consent and device
 * pages and the connected-apps card: "All my characters, including new ones"
 * or "Only these" with a checkbox per character. What the app asked for
 * (serika_characters) is pre-selected; else the grant's choice; else all.
 * Plain radios and checkboxes with labels: keyboard and no-JavaScript alike.
 */
export function characterChoiceFieldset(view: {
  appName: string;
  characters: readonly NamedCharacter[];
  requested: readonly string[] | null;
  current: CharacterChoice | undefined;
  /** Keeps the inputs' ids apart where several forms share a page (the dashboard's cards). */
  idPrefix?: string;
}): Html {
  const shown: CharacterChoice = view.requested ?? view.current ?? null;
  const p = view.idPrefix ?? '';
  const ticked = (id: string) => shown !== null && shown.includes(id);
  return html`<fieldset class="character-choice"><legend>Which characters may ${view.appName} see?</legend>
  ${view.requested ? html`<p class="muted">${view.appName} asks to see only the characters ticked below. You may change it.</p>` : ''}
  <div class="check"><input type="radio" id="${p}characters-all" name="characters" value="all"${shown === null ? html` checked` : ''}><label for="${p}characters-all">All my characters, including new ones</label></div>
  <div class="check"><input type="radio" id="${p}characters-only" name="characters" value="only"${shown !== null ? html` checked` : ''}><label for="${p}characters-only">Only these</label></div>
  <div class="character-list">
    ${
      view.characters.length === 0
        ? html`<p class="hint">You have no characters yet.</p>`
        : view.characters.map(
            (c, i) => html`<div class="check"><input type="checkbox" id="${p}character-${i}" name="character_ids" value="${c.id}"${ticked(c.id) ? html` checked` : ''}><label for="${p}character-${i}">${c.name}</label></div>`,
          )
    }
  </div>
  <p class="hint">Ticking applies to "Only these". You can change this at any time from your dashboard.</p>
</fieldset>`;
}

/**
 * The fieldset as posted, the one reading of it for the consent, device and
 * dashboard forms: undefined when the form had none, null for "All", else
 * the ticked ids that are characters of the user (`owned`), so a grant never
 * names another user's character. Throws the page's 400 for anything else.
 */
export function readCharacterChoice(body: unknown, owned: readonly string[]): CharacterChoice | undefined {
  const choice = field(body, 'characters');
  if (choice === undefined) return undefined;
  if (choice === 'all') return null;
  if (choice !== 'only') throw new AppError('invalid_request', 'Choose "All my characters" or "Only these". Go back and correct it.');
  const raw = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).character_ids : undefined;
  const posted = (Array.isArray(raw) ? raw : [raw]).filter((id): id is string => typeof id === 'string');
  return Object.freeze(owned.filter((id) => posted.includes(id)));
}
