"use strict";
/**
 * sessiond for Node.js: a client for the native protocol (connection pool,
 * pipelining, TLS, auth, timeouts, reconnect) and, under `sessiond/express`,
 * an express-session store with device lists and log-out-everywhere.
 */
var __createBinding = (this && this.__createBinding) || (Object.create ? (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    var desc = Object.getOwnPropertyDescriptor(m, k);
    if (!desc || ("get" in desc ? !m.__esModule : desc.writable || desc.configurable)) {
      desc = { enumerable: true, get: function() { return m[k]; } };
    }
    Object.defineProperty(o, k2, desc);
}) : (function(o, m, k, k2) {
    if (k2 === undefined) k2 = k;
    o[k2] = m[k];
}));
var __exportStar = (this && this.__exportStar) || function(m, exports) {
    for (var p in m) if (p !== "default" && !Object.prototype.hasOwnProperty.call(exports, p)) __createBinding(exports, m, p);
};
Object.defineProperty(exports, "__esModule", { value: true });
exports.protocol = exports.events = exports.routingSlot = exports.isSessionId = exports.idToText = exports.idFromText = exports.idBytes = exports.generateSessionId = exports.readTokenFile = exports.Client = void 0;
var client_1 = require("./client");
Object.defineProperty(exports, "Client", { enumerable: true, get: function () { return client_1.Client; } });
var options_1 = require("./options");
Object.defineProperty(exports, "readTokenFile", { enumerable: true, get: function () { return options_1.readTokenFile; } });
__exportStar(require("./errors"), exports);
var ids_1 = require("./ids");
Object.defineProperty(exports, "generateSessionId", { enumerable: true, get: function () { return ids_1.generateSessionId; } });
Object.defineProperty(exports, "idBytes", { enumerable: true, get: function () { return ids_1.idBytes; } });
Object.defineProperty(exports, "idFromText", { enumerable: true, get: function () { return ids_1.idFromText; } });
Object.defineProperty(exports, "idToText", { enumerable: true, get: function () { return ids_1.idToText; } });
Object.defineProperty(exports, "isSessionId", { enumerable: true, get: function () { return ids_1.isSessionId; } });
Object.defineProperty(exports, "routingSlot", { enumerable: true, get: function () { return ids_1.routingSlot; } });
exports.events = require("./events");
exports.protocol = require("./protocol");
