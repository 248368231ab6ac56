/* The server's own cluster file (nodes.conf), as far as autoshard reads it
 * before a server starts: the node id it last had (an ephemeral restart waits
 * for its replica to take over that id's slots), and the shard-id repair
 * before a persistent server starts.
 *
 * Valkey 8.0 refuses to load a nodes.conf in which a replica's shard-id
 * differs from its primary's ("corrupted cluster config file"). The ids of a
 * new cluster settle by gossip shortly after it forms, so a server stopped in
 * that window can leave such a file and then never start again
 * (valkey-io/valkey#774, #2171). Later Valkey releases converge the replica's
 * id to its primary's on load (#2174); prestart does the same before the
 * server reads the file, so every server version starts.
 *
 * The rewrite is pure and in place: a shard-id is always 40 hex digits, so
 * the text keeps its length and everything but those ids stays byte for
 * byte. A line it does not understand is left as it is for the server to
 * judge. */
#ifndef AUTOSHARD_NODESFILE_H
#define AUTOSHARD_NODESFILE_H

#include <stddef.h>

/* A nodes.conf larger than this is left alone (16384 single-slot ranges and
 * a few hundred nodes stay far below it). */
#define NODES_FILE_MAX_BYTES (8u << 20)

/* Give every replica line the shard-id of its primary (following chains of
 * replicas to the primary that has no primary), in text[0..len). Returns
 * the number of lines changed; when note is given, it names the first one
 * ("replica ID: shard-id OLD -> PRIMARY's NEW"). */
int nodes_file_converge_shard_ids(char *text, size_t len, char *note, size_t notelen);

/* The same on DIR/nodes.conf, rewritten atomically only when a line changed.
 * Returns the number of lines changed (0 also when there is no file), or -1
 * with err. */
int nodes_file_repair(const char *dir, char *note, size_t notelen, char *err, size_t errlen);

/* The node id on the line flagged myself in text[0..len) (not modified)
 * into id (NODE_ID_LEN + 1 bytes). 1 found, 0 no such line. */
int nodes_file_myself(char *text, size_t len, char *id);

/* The same on DIR/nodes.conf: 1 found, 0 no file or no myself line, -1 with
 * err when the file cannot be read. */
int nodes_file_myself_id(const char *dir, char *id, char *err, size_t errlen);

#endif
