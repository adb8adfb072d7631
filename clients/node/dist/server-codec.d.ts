/**
 * The server's direction of the codec: decoding requests and encoding
 * replies. The client never needs it; it exists so that the golden vectors
 * can be checked in both directions, and for fakes in tests.
 */
import { Writer } from "./codec";
import type { ServerError } from "./errors";
/** An opcode this codec does not know: the server's UNKNOWN_OP. */
export declare class UnknownOpcode extends Error {
    readonly opcode: number;
    constructor(opcode: number);
}
/** A decoded request: `op` is the lower-case name, fields use the vector file's names. */
export type DecodedRequest = {
    op: string;
} & Record<string, unknown>;
/**
 * Decode a request body as the server would. Throws DecodeError for what
 * the server answers MALFORMED and UnknownOpcode for UNKNOWN_OP. Byte
 * strings come back as Buffers, labels as [key, value] pairs in wire order.
 */
export declare function decodeRequest(body: Buffer): DecodedRequest;
/** A success response frame: status 0, the tag, then what `build` writes. */
export declare function encodeOk(tag: number, build?: (w: Writer) => unknown): Buffer;
/** An error response frame for an error: its code, message and detail fields. */
export declare function encodeError(err: ServerError): Buffer;
