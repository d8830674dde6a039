import { Client, fetchExchange, type CombinedError, type Operation, type OperationResult } from '@urql/core';
import { authExchange } from '@urql/exchange-auth';
import type { RefreshMutation as RefreshResult, TokensFragment, ViewerFragment } from './gql/graphql';
import { LogoutMutation, RefreshMutation } from './operations';

// The access token lives in this module's memory only: never in
// localStorage, sessionStorage or a readable cookie, where any script on the
// page could take it. The refresh token is an HttpOnly cookie that authql sets
// and reads (cookie mode), so after a reload the session comes back through
// one refreshToken call.
let accessToken: string | null = null;
let viewer: ViewerFragment | null = null;

type Listener = (viewer: ViewerFragment | null, reason: 'login' | 'refresh' | 'ended') => void;
const listeners = new Set<Listener>();

export function onSessionChange(fn: Listener): void {
  listeners.add(fn);
}

export function currentViewer(): ViewerFragment | null {
  return viewer;
}

/** Starts a session from a login, signup, verifyMfa or resetPassword answer. */
export function startSession(tokens: TokensFragment): void {
  accessToken = tokens.accessToken;
  viewer = tokens.user;
  listeners.forEach((fn) => fn(viewer, 'login'));
}

function endSession(): void {
  const had = accessToken !== null;
  accessToken = null;
  viewer = null;
  if (had) listeners.forEach((fn) => fn(null, 'ended'));
}

export function errorCode(error: CombinedError | undefined): string | undefined {
  const code = error?.graphQLErrors[0]?.extensions?.code;
  return typeof code === 'string' ? code : undefined;
}

const bearerOf = (op: Operation): string | null => {
  const opts = typeof op.context.fetchOptions === 'function' ? op.context.fetchOptions() : op.context.fetchOptions;
  const header = (opts?.headers as Record<string, string> | undefined)?.Authorization;
  return header?.replace(/^Bearer /, '') ?? null;
};

// The token an UNAUTHENTICATED operation carried: when a refresh has replaced
// it since, the operation is retried with the new token and no second refresh
// is sent.
let failedWith: string | null = null;

// The refresh mutation as sent past the auth exchange, once it has started.
let rawRefresh: (() => Promise<OperationResult<RefreshResult>>) | null = null;
let refreshing: Promise<boolean> | null = null;

export const client = new Client({
  url: '/graphql',
  preferGetMethod: false,
  requestPolicy: 'network-only',
  fetchOptions: { credentials: 'same-origin' },
  exchanges: [
    authExchange(async (utils) => {
      // refreshSession sends its mutation past this exchange (utils.mutate).
      rawRefresh = () => utils.mutate(RefreshMutation, {});
      return {
        addAuthToOperation: (op) => (accessToken ? utils.appendHeaders(op, { Authorization: `Bearer ${accessToken}` }) : op),
        didAuthError: (error, op) => {
          if (errorCode(error) !== 'UNAUTHENTICATED') return false;
          failedWith = bearerOf(op);
          return true;
        },
        // authExchange holds every operation while this runs and retries the
        // failed ones once afterwards.
        refreshAuth: async () => {
          if (accessToken !== null && failedWith !== accessToken) return;
          await refreshSession();
        },
      };
    }),
    fetchExchange,
  ],
});


/**
 * Trades the refresh cookie for a new access token. Concurrent callers share
 * one request; false when there is no session to restore (no cookie, or one
 * that authql refused: expired, revoked, reused).
 */
export function refreshSession(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const result = await (rawRefresh ? rawRefresh() : client.mutation(RefreshMutation, {}).toPromise());
      const tokens = result.data?.refreshToken;
      if (tokens) {
        accessToken = tokens.accessToken;
        viewer = tokens.user;
        listeners.forEach((fn) => fn(viewer, 'refresh'));
        return true;
      }
      endSession();
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** Revokes this session at authql (which clears the cookie) and forgets the token. */
export async function logout(): Promise<void> {
  await client.mutation(LogoutMutation, {}).toPromise();
  endSession();
}
