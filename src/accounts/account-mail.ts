import { linkMail, type MailMessage } from '../mail/message.js';
import { PATHS } from '../paths.js';

/** The words of the messages accounts send (SPEC §11), each with its one link under PUBLIC_URL. */
export class AccountMail {
  private readonly host: string;

  constructor(private readonly publicUrl: string) {
    this.host = new URL(publicUrl).host;
  }

  verification(to: string, username: string, token: string): MailMessage {
    return linkMail({
      to,
      subject: 'Verify your email address for Serika',
      intro: [`Hello ${username},`, `follow this link to verify ${to} for your Serika account at ${this.host}. It works once, within 24 hours.`],
      action: 'Verify email address',
      url: `${this.publicUrl}${PATHS.emailVerify}?token=${token}`,
      outro: ['If you did not ask for this, ignore this message: the address stays unverified.'],
    });
  }

  reset(to: string, username: string, token: string): MailMessage {
    return linkMail({
      to,
      subject: 'Reset your Serika password',
      intro: [`Hello ${username},`, `someone asked to reset the password of your Serika account at ${this.host}. This link sets a new one; it works once, within 30 minutes.`],
      action: 'Reset password',
      url: `${this.publicUrl}${PATHS.passwordReset}?token=${token}`,
      outro: ['If it was not you, ignore this message: your password stays as it is.'],
    });
  }

  /** To the address that was verified before a change (security review of issue 34): who changed it can reset the password. */
  emailChangedNotice(to: string, username: string, next: string | null): MailMessage {
    return linkMail({
      to,
      subject: 'The email address of your Serika account changed',
      intro: [`Hello ${username},`, next === null ? `the email address of your Serika account at ${this.host} was removed.` : `the email address of your Serika account at ${this.host} was changed to ${next}.`],
      action: 'Sign in',
      url: `${this.publicUrl}${PATHS.login}`,
      outro: ['If it was not you, sign in, change your password and set your address again: whoever controls the new address can reset your password.'],
    });
  }

  resetNotice(to: string, username: string): MailMessage {
    return linkMail({
      to,
      subject: 'Your Serika password was reset',
      intro: [`Hello ${username},`, `the password of your Serika account at ${this.host} was reset, and every session of the account was signed out.`],
      action: 'Sign in',
      url: `${this.publicUrl}${PATHS.login}`,
      outro: ['If this was not you, reset it again at once ("Forgot password?" on the sign-in page) and look at the Activity page of your account.'],
    });
  }
}
