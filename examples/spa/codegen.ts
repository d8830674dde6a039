import type { CodegenConfig } from '@graphql-codegen/cli';

// The app's operation types come from authql's own schema at the repository
// root, so a schema change that breaks the SPA fails `npm run codegen` or the
// type check instead of a user's browser.
const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/**/*.ts', '!src/gql/**'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        useTypeImports: true,
        enumsAsTypes: true,
        scalars: { Time: 'string' },
      },
    },
  },
};

export default config;
