/** One message: the same words as plain text and as HTML (SPEC §11). */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface LinkMail {
  to: string;
  subject: string;
  /** Paragraphs before the link. */
  intro: readonly string[];
  /** The link's words in the HTML part (the plain part shows the URL itself). */
  action: string;
  /** An absolute URL under PUBLIC_URL. */
  url: string;
  /** Paragraphs after the link. */
  outro: readonly string[];
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escape = (text: string) => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

/** A message with one link, as text and HTML; the HTML is inline-styled and loads nothing (mail clients block remote content). */
export function linkMail(mail: LinkMail): MailMessage {
  const text = [...mail.intro, mail.url, ...mail.outro].join('\n\n') + '\n';
  const paragraphs = (lines: readonly string[]) => lines.map((line) => `<p>${escape(line)}</p>`).join('\n');
  const html = `<!doctype html>
<html><body style="font-family: system-ui, sans-serif; line-height: 1.5; color: #1b1b1f">
${paragraphs(mail.intro)}
<p><a href="${escape(mail.url)}" style="display: inline-block; padding: 0.5em 1em; background: #3b4fd8; color: #fff; text-decoration: none; border-radius: 6px">${escape(mail.action)}</a></p>
<p style="font-size: 0.9em; color: #555">Or open this address: ${escape(mail.url)}</p>
${paragraphs(mail.outro)}
</body></html>
`;
  return { to: mail.to, subject: mail.subject, text, html };
}
