import type { RegisteredClient } from '../../clients/service.js';
import type { OAuthError } from '../protocol/errors.js';
import type { Audience } from '../../audiences.js';
import type { BudgetLimit } from '../../consent/budget-rules.js';
import type { BudgetState } from '../../consent/budgets.js';
import type { CharacterChoice } from '../../consent/character-choice.js';

/**
 * What the authorization endpoint decided must happen next. The protocol
 * decides; the page layer (web/) shows it and posts the user's decision
 * back (node-oidc-provider's "interaction").
 */
export type AuthorizeOutcome =
  /** An authorization response for the app: a code or an error, always 303 (AZ-20). */
  | { kind: 'redirect'; location: string }
  /**
   * An error page, never a redirect: client or redirect URI unknown (RFC 6749 §4.1.2.1), or a
   * client nobody vouches for (RFC 9700 §4.11.2). After the user's own decision, returnTo is the
   * error response the user may choose to follow by a link.
   */
  | { kind: 'error'; error: OAuthError; sentRedirectUri?: string; returnTo?: string }
  /**
   * Sign in first, then come back to this very request: nobody is signed in,
   * or (fresh) prompt=login / max_age ask for a new sign-in after freshLoginAfter.
   */
  | { kind: 'login'; client: RegisteredClient; loginHint?: string; fresh: boolean; freshLoginAfter: number }
  /** acr_values asked for two factors and the session used one: the second step, then back to this very request (SPEC §11). */
  | { kind: 'second_factor'; userId: string }
  /** The user must allow or deny; the decision is posted back with requestId. */
  | {
      kind: 'consent';
      client: RegisteredClient;
      /** Null for an ownerless client (registered, or known by its metadata document). */
      ownerName: string | null;
      /** How many users have a grant for it (SPEC §12). */
      allowedBy: number;
      scopes: string[];
      audience: Audience;
      redirectUri: string;
      requestId: string;
      /** What the app asked for with authorization_details (SPEC §10), and what the grant has now. */
      requestedBudget: BudgetLimit | null;
      currentBudget: BudgetState | null;
      /** With the characters scope (SPEC §15): the ids the app asked for (null: none), and the grant's choice now (undefined: no grant yet). */
      requestedCharacters: readonly string[] | null;
      currentCharacters: CharacterChoice | undefined;
    };
