import { graphql } from './gql';

// Every operation the app sends. `npm run codegen` turns these into typed
// documents in src/gql from the root schema.graphql.

export const Viewer = graphql(`
  fragment Viewer on User {
    id
    email
    emailVerified
    mfaEnabled
  }
`);

export const Tokens = graphql(`
  fragment Tokens on AuthPayload {
    accessToken
    expiresIn
    user {
      ...Viewer
    }
  }
`);

export const SignupMutation = graphql(`
  mutation Signup($email: String!, $password: String!) {
    signup(input: { email: $email, password: $password }) {
      ...Tokens
    }
  }
`);

export const LoginMutation = graphql(`
  mutation Login($email: String!, $password: String!) {
    login(input: { email: $email, password: $password }) {
      ...Tokens
    }
  }
`);

export const VerifyMfaMutation = graphql(`
  mutation VerifyMfa($mfaToken: String!, $code: String!) {
    verifyMfa(mfaToken: $mfaToken, code: $code) {
      ...Tokens
    }
  }
`);

// No token argument: in cookie mode authql reads the HttpOnly cookie.
export const RefreshMutation = graphql(`
  mutation Refresh {
    refreshToken {
      ...Tokens
    }
  }
`);

export const LogoutMutation = graphql(`
  mutation Logout {
    logout
  }
`);

export const MeQuery = graphql(`
  query Me {
    me {
      ...Viewer
    }
  }
`);

export const SessionsQuery = graphql(`
  query Sessions {
    sessions {
      id
      createdAt
      lastUsedAt
      userAgent
      ipAddress
      current
    }
  }
`);

export const AuditEventsQuery = graphql(`
  query AuditEvents($first: Int!) {
    myAuditEvents(first: $first) {
      edges {
        node {
          id
          type
          createdAt
          ipAddress
          detail
          count
        }
      }
    }
  }
`);

export const RevokeSessionMutation = graphql(`
  mutation RevokeSession($id: ID!) {
    revokeSession(id: $id)
  }
`);

export const RequestPasswordResetMutation = graphql(`
  mutation RequestPasswordReset($email: String!) {
    requestPasswordReset(email: $email)
  }
`);

export const ResetPasswordMutation = graphql(`
  mutation ResetPassword($token: String!, $newPassword: String!) {
    resetPassword(token: $token, newPassword: $newPassword) {
      ...Tokens
    }
  }
`);

export const VerifyEmailMutation = graphql(`
  mutation VerifyEmail($token: String!) {
    verifyEmail(token: $token) {
      ...Viewer
    }
  }
`);
