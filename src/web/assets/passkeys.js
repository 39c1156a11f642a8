// Passkeys (SPEC §11), on the pages that have passkey forms, after the WebAuthn library
// (@simplewebauthn/browser, served from Serika's own origin as SimpleWebAuthnBrowser).
// A passkey form stays hidden unless this browser can use passkeys: without JavaScript,
// or without WebAuthn, the page is its password and code forms alone.
(() => {
  const lib = window.SimpleWebAuthnBrowser;
  if (!lib || !lib.browserSupportsWebAuthn()) return;

  // The ceremony's options, from a same-origin form post of the form's fields (its CSRF token, and on
  // Account the password that allows adding a passkey). A refusal's message is shown as it is.
  const optionsFor = async (form) => {
    const fields = new URLSearchParams(new FormData(form));
    fields.delete('response');
    const response = await fetch(form.dataset.passkeyOptions, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: fields,
    });
    if (response.ok) return response.json();
    const refusal = await response.json().catch(() => ({}));
    throw Object.assign(new Error(refusal.error || 'The server did not start the passkey prompt (' + response.status + ').'), { name: 'Refused' });
  };
  const say = (form, text) => {
    const status = form.querySelector('[data-passkey-status]');
    if (!status) return;
    status.textContent = text;
    status.hidden = !text;
  };
  // The authenticator's answer goes to the server as a field of the form: its reply is a page or a redirect.
  const send = (form, answer) => {
    form.elements.response.value = JSON.stringify(answer);
    form.submit();
  };
  const problem = (error) => {
    if (error && error.name === 'Refused') return error.message;
    if (error && error.name === 'NotAllowedError') return 'The passkey prompt was closed or timed out. Try again.';
    return 'The passkey could not be used: ' + (error && error.message ? error.message : 'unknown error') + '.';
  };

  for (const form of document.querySelectorAll('form[data-passkey]')) {
    form.hidden = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (!form.reportValidity()) return;
      const button = form.querySelector('button[type="submit"]');
      say(form, '');
      button.disabled = true;
      try {
        const optionsJSON = await optionsFor(form);
        const answer = form.dataset.passkey === 'register' ? await lib.startRegistration({ optionsJSON }) : await lib.startAuthentication({ optionsJSON });
        send(form, answer);
      } catch (error) {
        say(form, problem(error));
        button.disabled = false;
      }
    });
  }

  // Conditional mediation: the username field (autocomplete "username webauthn") offers passkeys as it
  // offers saved passwords. A click on "Sign in with a passkey" aborts this quiet request for a modal one.
  const autofill = document.querySelector('form[data-passkey-autofill]');
  if (autofill) {
    lib.browserSupportsWebAuthnAutofill().then(async (supported) => {
      if (!supported) return;
      try {
        const optionsJSON = await optionsFor(autofill);
        send(autofill, await lib.startAuthentication({ optionsJSON, useBrowserAutofill: true }));
      } catch {
        // Aborted by the button's prompt, or no passkey chosen: nothing to say.
      }
    });
  }
})();
