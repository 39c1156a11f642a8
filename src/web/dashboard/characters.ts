import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../errors.js';
import { field } from '../../http/form-body.js';
import { CHARACTER_LIMITS, type Character, type CharactersService } from '../../resources/characters/service.js';
import type { CharacterInput } from '../../resources/characters/schemas.js';
import { html, type Html } from '../html.js';
import { confirmPage, csrfField, dashboardPage, describedBy, fieldError, userOf } from './common.js';
import { DASHBOARD } from '../../paths.js';

function readForm(body: unknown): CharacterInput {
  const text = (name: string) => (typeof (body as Record<string, unknown>)?.[name] === 'string' ? ((body as Record<string, string>)[name] ?? '') : '');
  return { name: text('name'), description: text('description'), personality: text('personality'), greeting: text('greeting'), avatar: field(body, 'avatar') ?? null };
}

function characterForm(reply: FastifyReply, input: CharacterInput, errors: Record<string, string>, action: string, submit: string): Html {
  const area = (name: 'description' | 'personality' | 'greeting', label: string) => html`<label for="${name}">${label}</label>
  <textarea id="${name}" name="${name}" rows="3" maxlength="${CHARACTER_LIMITS[name]}"${describedBy(name, errors)}>${input[name] ?? ''}</textarea>${fieldError(name, errors)}`;
  return html`<form method="post" action="${action}">${csrfField(reply)}
  <label for="name">Name</label>
  <input type="text" id="name" name="name" required maxlength="100" value="${input.name ?? ''}"${describedBy('name', errors)}>${fieldError('name', errors)}
  ${area('description', 'Description')}
  ${area('personality', 'Personality')}
  ${area('greeting', 'Greeting')}
  <label for="avatar">Avatar URL</label>
  <input type="url" id="avatar" name="avatar" maxlength="2048" value="${input.avatar ?? ''}" placeholder="https://example.com/avatar.png" data-avatar-input${describedBy('avatar', errors, 'avatar-hint')}>
  <p class="hint" id="avatar-hint">An http(s) image address. The preview updates as you type.</p>
  ${fieldError('avatar', errors)}
  <img class="avatar-preview" data-avatar-preview alt="Avatar preview" src="${input.avatar ?? ''}"${input.avatar ? '' : html` hidden`}>
  <div class="actions"><button type="submit">${submit}</button></div>
</form>`;
}

/** Characters: list, create, edit, delete, with an avatar preview. */
export async function charactersPages(scope: FastifyInstance, characters: CharactersService): Promise<void> {
  const empty: CharacterInput = { name: '', description: '', personality: '', greeting: '', avatar: null };
  const fail = (error: unknown) => {
    if (error instanceof AppError && error.status < 500) return { [error.param ?? 'name']: error.message };
    throw error;
  };
  const listPage = async (request: FastifyRequest, reply: FastifyReply, input = empty, errors: Record<string, string> = {}, status = 200) => {
    const list = await characters.list(userOf(request));
    return dashboardPage(request, reply, {
      title: 'Characters',
      section: DASHBOARD.characters,
      status,
      body: html`<h1>Characters</h1>
<div class="card"><h2>Your characters</h2>${
        list.length === 0
          ? html`<p class="muted">No characters yet.</p>`
          : html`<ul class="item-list characters">${list.map(
              (c: Character) => html`<li>${c.avatar ? html`<img class="avatar" src="${c.avatar}" alt="">` : html`<span class="avatar placeholder" aria-hidden="true">${c.name.slice(0, 1)}</span>`}
              <div><a href="${DASHBOARD.characters}/${c.id}"><strong>${c.name}</strong></a><br><span class="muted">${c.description.slice(0, 140)}</span></div></li>`,
            )}</ul>`
      }</div>
<div class="card"><h2>Create a character</h2>${characterForm(reply, input, errors, DASHBOARD.characters, 'Create character')}</div>`,
    });
  };
  const editPage = async (request: FastifyRequest, reply: FastifyReply, c: Character, input?: CharacterInput, errors: Record<string, string> = {}, status = 200, notice?: Html) =>
    dashboardPage(request, reply, {
      title: c.name,
      section: DASHBOARD.characters,
      status,
      body: html`<p><a href="${DASHBOARD.characters}">← All characters</a></p><h1>${c.name}</h1>${notice ?? ''}
<div class="card">${characterForm(reply, input ?? c, errors, `${DASHBOARD.characters}/${c.id}`, 'Save changes')}</div>
<div class="card danger-zone"><div class="actions"><a class="button-link danger" href="${DASHBOARD.characters}/${c.id}/delete">Delete character</a></div></div>`,
    });
  const owned = async (request: FastifyRequest<{ Params: { id: string } }>, reply: FastifyReply) => {
    try {
      return await characters.get(userOf(request), request.params.id);
    } catch (error) {
      if (error instanceof AppError && error.code === 'not_found') {
        await reply.code(303).header('location', DASHBOARD.characters).send();
        return null;
      }
      throw error;
    }
  };

  scope.get(DASHBOARD.characters, async (request, reply) => listPage(request, reply));
  scope.post(DASHBOARD.characters, async (request, reply) => {
    const input = readForm(request.body);
    try {
      const created = await characters.create(userOf(request).userId, input);
      return await editPage(request, reply, created, undefined, {}, 201, html`<p class="notice" role="status">Character created.</p>`);
    } catch (error) {
      return listPage(request, reply, input, fail(error), 400);
    }
  });
  scope.get<{ Params: { id: string } }>(`${DASHBOARD.characters}/:id`, async (request, reply) => {
    const c = await owned(request, reply);
    return c ? editPage(request, reply, c) : reply;
  });
  scope.post<{ Params: { id: string } }>(`${DASHBOARD.characters}/:id`, async (request, reply) => {
    const c = await owned(request, reply);
    if (!c) return reply;
    const input = readForm(request.body);
    try {
      const updated = await characters.update(userOf(request), c.id, input);
      return await editPage(request, reply, updated, undefined, {}, 200, html`<p class="notice" role="status">Saved.</p>`);
    } catch (error) {
      return editPage(request, reply, c, input, fail(error), 400);
    }
  });
  scope.get<{ Params: { id: string } }>(`${DASHBOARD.characters}/:id/delete`, async (request, reply) => {
    const c = await owned(request, reply);
    if (!c) return reply;
    return confirmPage(request, reply, {
      section: DASHBOARD.characters,
      title: 'Delete character',
      message: html`<p>Delete <strong>${c.name}</strong>? Apps that read your characters will no longer see it. This cannot be undone.</p>`,
      action: `${DASHBOARD.characters}/${c.id}/delete`,
      button: 'Delete character',
      back: `${DASHBOARD.characters}/${c.id}`,
    });
  });
  scope.post<{ Params: { id: string } }>(`${DASHBOARD.characters}/:id/delete`, async (request, reply) => {
    await characters.delete(userOf(request), request.params.id).catch((error: unknown) => {
      if (!(error instanceof AppError && error.code === 'not_found')) throw error;
    });
    return reply.code(303).header('location', DASHBOARD.characters).send();
  });
}
