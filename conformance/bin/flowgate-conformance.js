#!/usr/bin/env node
// The installed `flowgate-conformance` command. It lives outside dist/ so npm can link it at install time, before `tsc -b`
// has built dist/ (npm ci runs the root `prepare` build after linking bins).
import '../dist/bin.js';
