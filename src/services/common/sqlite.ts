/** The services' SQLite databases: what is acknowledged must survive a crash or a power loss. */
import Database from 'better-sqlite3';

export function openDatabase(path: string, schema: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  // FULL: in WAL mode NORMAL may lose the last commits on power loss, and an acknowledged item
  // must not be lost. The oracle's group commit pays the fsync once per batch of requests.
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}
