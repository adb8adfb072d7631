"use strict";
/**
 * The values the API hands back. They carry what the wire carries
 * (SPEC.md §6 `info`, §9) under camelCase names, so code written against
 * the Rust or Python client reads the same here.
 */
Object.defineProperty(exports, "__esModule", { value: true });
