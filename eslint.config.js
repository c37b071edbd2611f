import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.baton/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: ['node:fs', 'node:fs/*', 'node:http', 'node:https', 'node:net', 'node:child_process', 'node:os', 'node:crypto', 'node:process', 'fs', 'fs/*', 'http', 'https', 'net', 'child_process', 'os', 'express', 'probot', '@octokit/*', '@gitbeaker/*', 'ioredis', 'bullmq', '**/config/*', '**/sources/*', '**/forges/*', '**/queue/*', '**/app/*', '**/http/*', '**/cli/*', '**/registry/*'],
      }],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'core takes the clock as an argument' },
        { object: 'Math', property: 'random', message: 'core takes randomness as an argument' }],
    },
  },
);
