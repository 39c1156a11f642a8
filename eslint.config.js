import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'test-results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['warn', 'error'] }],
      eqeqeq: ['error', 'always'],
    },
  },
  {
    files: ['src/cli/**', 'test/**', 'bench/**', 'bin/**', 'scripts/**', 'examples/**'],
    rules: { 'no-console': 'off' },
  },
  {
    // bin/ is CommonJS: it sizes libuv's thread pool before any ES module loads.
    files: ['bin/**/*.js'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The pages' script runs in browsers.
    files: ['src/web/assets/**/*.js'],
    languageOptions: { globals: { ...globals.browser }, sourceType: 'script' },
  },
  {
    // Type-aware rules (no-floating-promises, no-misused-promises, ...) on the
    // product code, which runs the async work. test/ keeps the untyped preset:
    // typing its loose JSON replies would be a rewrite, and linting it with
    // types would double the run's time.
    files: ['src/**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Route handlers, hooks and storage methods are async by contract even
      // when a body happens not to await; dropping async would turn their
      // throws from rejections into synchronous throws.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests and the CLI's entry get the two promise rules only; the rest of
    // the type-checked preset would flag every loosely typed JSON reply.
    files: ['test/**/*.ts', 'bin/**/*.js'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  {
    // Tests read loosely typed JSON replies.
    files: ['test/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
