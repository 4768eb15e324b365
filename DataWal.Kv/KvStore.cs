using System.Runtime.CompilerServices;
using DataWal.Core;

namespace DataWal.Kv;

/// <summary>
/// A last-write-wins key/value store projected from a <see cref="RecordLog"/> (upstream <c>DataWal</c>):
/// Put records set a key, Delete records (tombstones) remove it, Raw records are invisible. Keys live in
/// memory mapped to the location of their latest Put; values stay on disk and are read, with their CRC
/// re-verified, on every <see cref="Get(ReadOnlySpan{byte})"/>.
/// </summary>
/// <remarks>
/// <para>
/// Durability is the log's: a <see cref="Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/> or <see cref="Delete(ReadOnlySpan{byte})"/> survives a crash of this process
/// when it returns, and a power loss after <see cref="Fsync"/>.
/// </para>
/// <para>
/// Thread safety: every member may be called from several threads at once. Writes are serialized (and
/// applied to the key directory in log order); reads run concurrently with each other and with writes.
/// </para>
/// </remarks>
public sealed class KvStore : IDisposable, IAsyncDisposable
{
    private readonly RecordLog? _log;
    private readonly ReadHandlePool _pool;
    private readonly Relocation _relocation = new();
    private readonly AutoCompactor? _auto;
    private KeyProjection _keys;   // replaced only by a read-only store's reload
    private readonly TaskCompletionSource _disposed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposing;   // 1 once a Dispose or DisposeAsync has begun: it alone releases

    private KvStore(string directory, RecordLog? log, KeyProjection keys, KvLogView view, int readHandles, KvAutoCompaction? auto, bool mapSealed = true)
    {
        Directory = directory;
        _log = log;
        _keys = keys;
        Log = view;
        _pool = new ReadHandlePool(directory, readHandles, mapSealed);
        if (log is not null && auto is not null)
        {
            _auto = new AutoCompactor(this, auto);
            keys.Rotated = _auto.Check;
        }
    }

    /// <summary>The store directory (absolute).</summary>
    public string Directory { get; }

    /// <summary>True for a store opened with <see cref="OpenReadOnly(string)"/> or <see cref="OpenReadOnly(string, ReadMode)"/>.</summary>
    public bool IsReadOnly => _log is null;

    /// <summary>
    /// How the store's log was read at open: <see cref="ReadMode.Strict"/> for writers and plain read-only opens,
    /// <see cref="ReadMode.Salvage"/> for a read-only salvage view (see <see cref="OpenReadOnly(string, ReadMode)"/>).
    /// </summary>
    public ReadMode Mode => Log.Mode;

    /// <summary>
    /// A read view of the store's log: its state (txids, segments, poisoning, fsyncs), scans and live follow.
    /// Never a writable log — writes go through the store, so its key directory sees every one.
    /// </summary>
    public KvLogView Log { get; }

    /// <summary>What opening found: the writer log's recovery report, or the read-only scan's.</summary>
    public RecoveryReport RecoveryReport => Log.RecoveryReport;

    /// <summary>True after a failed write, fsync or rotation: writes are refused until a reopen (always false read-only).</summary>
    public bool IsPoisoned => _log?.IsPoisoned ?? false;

    /// <summary>Number of live keys.</summary>
    public int Count => LiveKeys.Count;

    /// <summary>True when there are no live keys.</summary>
    public bool IsEmpty => Count == 0;

    /// <summary>Approximate memory held by the key directory, in bytes.</summary>
    public long KeyDirectoryBytes => LiveKeys.MemoryBytes;

    /// <summary>
    /// Opens (creating when missing) the store in <paramref name="directory"/> as its writer: takes the lock,
    /// recovers the log (cutting a damaged tail), and rebuilds the key directory in the same single pass.
    /// </summary>
    /// <param name="directory">The store directory.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <returns>The open store; dispose it to release the lock.</returns>
    /// <exception cref="StoreLockedException">Another writer holds the store.</exception>
    /// <exception cref="CorruptRecordException">Damage recovery does not tolerate.</exception>
    public static KvStore Open(string directory, KvStoreOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new KvStoreOptions();
        var keys = new KeyProjection(Path.GetFullPath(directory));
        RecordLog log;
        try
        {
            log = RecordLog.Open(directory, options.Log, keys);
        }
        catch
        {
            keys.Dispose();
            throw;
        }

        keys.TrimExcess();
        keys.ActiveSegment = log.ActiveSegment;
        return new KvStore(log.Directory, log, keys, new KvLogView(log.Directory, log), options.ReadHandleCapacity, options.AutoCompaction, options.MapSealedSegments);
    }

    /// <summary>
    /// Opens a read-only view: no lock, creates nothing, changes nothing — it works beside a live writer in
    /// this or another process and sees the records present when it was opened (a tail still being written
    /// is left out). Writes throw <see cref="InvalidOperationException"/>. Strict: damage recovery does not
    /// tolerate throws (see <see cref="OpenReadOnly(string, ReadMode)"/> for a salvage view).
    /// </summary>
    /// <param name="directory">The store directory, which must exist.</param>
    /// <returns>The read-only store.</returns>
    /// <exception cref="DataWalException">The directory is missing, or the log has damage recovery does not tolerate.</exception>
    public static KvStore OpenReadOnly(string directory) => OpenReadOnly(directory, ReadMode.Strict);

    /// <summary>
    /// Opens a read-only view (as <see cref="OpenReadOnly(string)"/>) whose log is read in <paramref name="mode"/>. With
    /// <see cref="ReadMode.Salvage"/> (docs/design.md D16) a damaged store opens anyway: the key directory is the
    /// last-write-wins view over the <em>intact</em> records, and <see cref="RecoveryReport"/>'s
    /// <see cref="RecoveryReport.SkippedRanges"/> says which ranges were skipped. A key whose later put or delete was
    /// in a skipped range shows its last intact value (or is absent, or present after a lost delete): that cannot
    /// be known, so the ranges are reported and nothing is guessed. <see cref="Get(ReadOnlySpan{byte})"/> still re-verifies every frame's
    /// CRC, so nothing damaged is ever returned. <see cref="CompactTo"/> and <see cref="ExportJsonl(string)"/> copy this view;
    /// <see cref="SalvageTo"/> does both steps at once.
    /// </summary>
    /// <param name="directory">The store directory, which must exist.</param>
    /// <param name="mode">How the log is read.</param>
    /// <returns>The read-only store.</returns>
    /// <exception cref="StoreNotFoundException">The directory does not exist (nothing is created).</exception>
    /// <exception cref="DataWalException">The path is not a directory; in strict mode also damage recovery does not tolerate.</exception>
    public static KvStore OpenReadOnly(string directory, ReadMode mode)
    {
        var reader = RecordLogReader.Open(directory, mode);
        var (keys, report) = ReplayReadOnly(reader);
        return new KvStore(reader.Directory, null, keys, new KvLogView(reader.Directory, report, reader.Segments, mode), ReadHandlePool.DefaultCapacity, null);
    }

    /// <summary>
    /// Salvages a damaged store: opens <paramref name="sourceDirectory"/> read-only in <see cref="ReadMode.Salvage"/> and
    /// writes its live set into a fresh, strict store in <paramref name="outDirectory"/> exactly as <see cref="CompactTo"/>
    /// does (one Put per live key, bytewise key order, txids 1..N, fsynced; it opens with <see cref="Open"/> and in
    /// upstream). The source is never modified. What was skipped is in the result's report: keys whose latest record
    /// was in a skipped range carry their last intact value, or are missing.
    /// </summary>
    /// <param name="sourceDirectory">The damaged store, which must exist.</param>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <returns>What was written, and the salvage pass's report with every skipped range.</returns>
    /// <exception cref="DataWalException">The source is missing, the target is not empty, or a read or write failed.</exception>
    public static KvSalvageResult SalvageTo(string sourceDirectory, string outDirectory) =>
        Salvage(sourceDirectory, outDirectory, null, CancellationToken.None);

    /// <summary>
    /// <see cref="SalvageTo"/> on the thread pool, with progress: after the salvage pass has read the source (no
    /// report during that pass), <paramref name="progress"/> hears how many live keys were written every few thousand
    /// keys, and once more when the new store is fsynced (<see cref="KvCopyProgress.KeysCopied"/> =
    /// <see cref="KvCopyProgress.KeysTotal"/>).
    /// </summary>
    /// <param name="sourceDirectory">The damaged store, which must exist.</param>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <param name="progress">Receives how far the copy is, or null.</param>
    /// <param name="cancellationToken">Stops the copy between records (the target then holds a prefix: delete it).</param>
    /// <returns>What was written, and the salvage pass's report with every skipped range.</returns>
    /// <exception cref="DataWalException">The source is missing, the target is not empty, or a read or write failed.</exception>
    public static Task<KvSalvageResult> SalvageToAsync(string sourceDirectory, string outDirectory, IProgress<KvCopyProgress>? progress = null, CancellationToken cancellationToken = default) =>
        Task.Run(() => Salvage(sourceDirectory, outDirectory, progress, cancellationToken), cancellationToken);

    /// <summary>The salvage of <see cref="SalvageTo"/> and <see cref="SalvageToAsync"/>: a salvage-mode read-only open, then a copy.</summary>
    private static KvSalvageResult Salvage(string sourceDirectory, string outDirectory, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken)
    {
        using var source = OpenReadOnly(sourceDirectory, ReadMode.Salvage);
        cancellationToken.ThrowIfCancellationRequested();
        var stats = Compaction.Run(source, outDirectory, progress, cancellationToken);
        return new KvSalvageResult(stats.LiveKeys, stats.BytesWritten, source.RecoveryReport);
    }

    private static (KeyProjection Keys, RecoveryReport Report) ReplayReadOnly(RecordLogReader reader)
    {
        var keys = new KeyProjection(reader.Directory);
        try
        {
            var report = reader.Replay(keys);
            keys.TrimExcess();

            // The last segment may be a live writer's active one, elsewhere: only those before it are sealed.
            keys.ActiveSegment = reader.Segments.Count > 0 ? reader.Segments[^1] : 0;
            return (keys, report);
        }
        catch
        {
            keys.Dispose();
            throw;
        }
    }

    /// <summary>Whether <paramref name="key"/> is live (no I/O).</summary>
    /// <param name="key">The key.</param>
    /// <returns>True when the key has a value.</returns>
    public bool ContainsKey(ReadOnlySpan<byte> key) => LiveKeys.ContainsKey(key);

    /// <summary>Whether <paramref name="key"/> is live (no I/O). An empty array is the empty key.</summary>
    /// <param name="key">The key.</param>
    /// <returns>True when the key has a value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null (a span cannot tell null from the empty key; an array can).</exception>
    public bool ContainsKey(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return LiveKeys.ContainsKey(key.AsSpan());
    }

    /// <summary>Whether the UTF-8 of <paramref name="key"/> is a live key (no I/O).</summary>
    /// <param name="key">The key, stored as its UTF-8 bytes (no byte-order mark).</param>
    /// <returns>True when the key has a value.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    /// <exception cref="System.Text.EncoderFallbackException"><paramref name="key"/> holds a lone surrogate (it has no UTF-8).</exception>
    public bool ContainsKey(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        using var utf8 = Utf8Text.Encode(key);
        return LiveKeys.ContainsKey(utf8.Span);
    }

    /// <summary>Where the latest Put of <paramref name="key"/> is, or null when the key is not live (no I/O).</summary>
    /// <param name="key">The key.</param>
    /// <returns>The location, or null.</returns>
    public RecordRef? RefOf(ReadOnlySpan<byte> key) => LiveKeys.TryGet(key, out var r) ? r : null;

    /// <summary>Where the latest Put of <paramref name="key"/> is, or null when the key is not live (no I/O).</summary>
    /// <param name="key">The key; an empty array is the empty key.</param>
    /// <returns>The location, or null.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    public RecordRef? RefOf(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return RefOf(key.AsSpan());
    }

    /// <summary>
    /// Reads the value of <paramref name="key"/>: exactly its frame, copied from a memory mapping of a sealed segment
    /// (64-bit Linux) or read with one positional read, with length, CRC, record type and key re-verified.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <returns>A copy of the value, or null when the key is not live.</returns>
    /// <exception cref="CorruptRecordException">The frame on disk no longer verifies.</exception>
    // Optimized from the first call: a fresh process would otherwise run its gets unoptimized until tiering catches up.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public byte[]? Get(ReadOnlySpan<byte> key)
    {
        ThrowIfDisposed();
        if (_log is not null)
        {
            // The probe compares hashes only and lets the frame's own key (checked on every read anyway) confirm the
            // entry: one memory load fewer per get. Sound while no compaction switch overlaps the read — then every
            // location names the frame of its own entry's key, so a frame holding this key is this key's latest Put.
            // Anything else (a collision, damage, a switch) takes the exact path below, which says what is wrong.
            // A read-only store cannot see a writer elsewhere switch, so it always takes the exact path.
            long epoch = _relocation.Epoch;
            var current = Volatile.Read(ref _keys);
            if (!current.TryGetCandidate(KeyDirectory.Hash(key), out var candidate))
            {
                KvTelemetry.Read(Directory, hit: false);
                return null;
            }

            if ((epoch & 1) == 0 && ValueReader.TryRead(_pool, key, candidate, current.ActiveSegment) is { } found)
            {
                Interlocked.MemoryBarrier();   // the frame was read before the epoch is looked at again
                if (_relocation.Epoch == epoch)
                {
                    KvTelemetry.Read(Directory, hit: true);
                    return found;
                }
            }
        }

        bool reloaded = false;
        while (true)
        {
            long epoch = _relocation.Epoch;
            var keys = Volatile.Read(ref _keys);
            if (!keys.TryGet(key, out var location))
            {
                KvTelemetry.Read(Directory, hit: false);
                return null;
            }

            try
            {
                var value = ValueReader.Read(_pool, key, location, keys.ActiveSegment);
                KvTelemetry.Read(Directory, hit: true);
                return value;
            }
            catch (DataWalException) when (Moved(epoch, keys, ref reloaded))
            {
                // The frame moved into a compaction image while we read: look the key up again.
            }
        }
    }

    /// <summary>
    /// Reads the value of <paramref name="key"/> as <see cref="Get(ReadOnlySpan{byte})"/> does. An empty array is the
    /// empty key (a valid key, as upstream).
    /// </summary>
    /// <param name="key">The key.</param>
    /// <returns>A copy of the value, or null when the key is not live.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null (a span cannot tell null from the empty key; an array can).</exception>
    /// <exception cref="CorruptRecordException">The frame on disk no longer verifies.</exception>
    public byte[]? Get(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Get(key.AsSpan());
    }

    /// <summary>
    /// Reads the value of the UTF-8 key <paramref name="key"/> and decodes it as UTF-8: the read side of
    /// <see cref="Put(string, string)"/>.
    /// </summary>
    /// <param name="key">The key, looked up as its UTF-8 bytes.</param>
    /// <returns>The value as a string, or null when the key is not live.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    /// <exception cref="System.Text.EncoderFallbackException"><paramref name="key"/> holds a lone surrogate.</exception>
    /// <exception cref="System.Text.DecoderFallbackException">The value is not valid UTF-8 (it was written as bytes): use <see cref="Get(ReadOnlySpan{byte})"/>.</exception>
    /// <exception cref="CorruptRecordException">The frame on disk no longer verifies.</exception>
    public string? GetString(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        byte[]? value;
        using (var utf8 = Utf8Text.Encode(key))
        {
            value = Get(utf8.Span);
        }

        return value is null ? null : Utf8Text.Strict.GetString(value);
    }

    /// <summary>
    /// After a failed read: true when the key's location may have changed under it, so the caller looks it up again.
    /// A writable store asks whether its own compaction switched locations meanwhile; a read-only one, once per
    /// read, whether segments of its snapshot are gone (a writer elsewhere compacted), and then reloads its keys.
    /// </summary>
    private bool Moved(long epoch, KeyProjection keys, ref bool reloaded)
    {
        if (_log is not null)
        {
            return _relocation.Raced(epoch);
        }

        if (!ReferenceEquals(keys, Volatile.Read(ref _keys)))
        {
            return true;   // another read reloaded meanwhile
        }

        if (reloaded || !Log.SegmentsChanged())
        {
            return false;
        }

        reloaded = true;
        ReloadReadOnly();
        return true;
    }

    /// <summary>A read-only store whose segments were compacted away by a writer elsewhere reads the log again.</summary>
    private void ReloadReadOnly()
    {
        using (_relocation.Begin())
        {
            if (!Log.SegmentsChanged())
            {
                return;   // another read reloaded while this one waited
            }

            var reader = RecordLogReader.Open(Directory, Mode);
            var (keys, report) = ReplayReadOnly(reader);
            _pool.Invalidate(0, uint.MaxValue);
            Volatile.Write(ref _keys, keys);
            Log.Reloaded(report, reader.Segments);
        }
    }

    /// <summary>
    /// Reads the value of <paramref name="key"/> into <paramref name="destination"/> without allocating.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="destination">Receives the value.</param>
    /// <returns>False when the key is not live (nothing written).</returns>
    /// <exception cref="CorruptRecordException">The frame on disk no longer verifies.</exception>
    public bool TryGet(ReadOnlySpan<byte> key, System.Buffers.IBufferWriter<byte> destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ThrowIfDisposed();
        bool reloaded = false;
        while (true)
        {
            long epoch = _relocation.Epoch;
            var keys = Volatile.Read(ref _keys);
            if (!keys.TryGet(key, out var location))
            {
                KvTelemetry.Read(Directory, hit: false);
                return false;
            }

            var rented = System.Buffers.ArrayPool<byte>.Shared.Rent((int)location.Length);
            try
            {
                var value = ValueReader.Verify(_pool, key, location, rented.AsSpan(0, (int)location.Length), keys.ActiveSegment);
                value.CopyTo(destination.GetSpan(value.Length));
                destination.Advance(value.Length);
                KvTelemetry.Read(Directory, hit: true);
                return true;
            }
            catch (DataWalException) when (Moved(epoch, keys, ref reloaded))
            {
                // Moved into a compaction image meanwhile: look the key up again.
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>The live keys, in no particular order (no I/O).</summary>
    /// <returns>Copies of the keys.</returns>
    public IReadOnlyList<byte[]> Keys() => LiveKeys.Keys();

    /// <summary>Every live key with its value (each value read and verified), in no particular order.</summary>
    /// <returns>The pairs.</returns>
    /// <exception cref="CorruptRecordException">A frame no longer verifies.</exception>
    public IReadOnlyList<KeyValuePair<byte[], byte[]>> Items()
    {
        ThrowIfDisposed();
        using var stable = EnterStableLocations();
        var snapshot = Snapshot(sorted: false);
        var items = new List<KeyValuePair<byte[], byte[]>>(snapshot.Count);
        uint activeSegment = SealedBelow;   // segments below it are sealed: their values may come from mappings
        for (int i = 0; i < snapshot.Count; i++)
        {
            var key = snapshot.KeyAt(i);
            items.Add(new(key.ToArray(), ValueReader.Read(_pool, key, snapshot.RefAt(i), activeSegment)));
        }

        return items;
    }

    /// <summary>
    /// Sets <paramref name="key"/> to <paramref name="value"/> (appends a Put record). Under
    /// <see cref="DurabilityMode.EveryAppend"/> it returns once the record is durable, sharing the fsync
    /// with concurrent writers.
    /// </summary>
    /// <param name="key">The key (at most 64 KiB).</param>
    /// <param name="value">The value (at most 64 MiB).</param>
    /// <exception cref="RecordTooLargeException">The key or value exceeds the limits.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Put(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => Writer.AppendRecord(RecordType.Put, key, value);

    /// <summary>
    /// Sets <paramref name="key"/> to <paramref name="value"/> as <see cref="Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>
    /// does. Empty arrays are the empty key and the empty value (both valid, as upstream).
    /// </summary>
    /// <param name="key">The key (at most 64 KiB).</param>
    /// <param name="value">The value (at most 64 MiB).</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="value"/> is null (a span cannot tell null from empty; an array can).</exception>
    /// <exception cref="RecordTooLargeException">The key or value exceeds the limits.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    [OverloadResolutionPriority(1)]   // Put(array, [collection expression]) would otherwise be ambiguous with the span overload
    public void Put(byte[] key, byte[] value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        Put(key.AsSpan(), value.AsSpan());
    }

    /// <summary>
    /// Sets the key <paramref name="key"/> to <paramref name="value"/>, both stored as UTF-8 (no byte-order mark; strict:
    /// a lone surrogate throws rather than becoming U+FFFD, so two strings never share a key). Read it back with
    /// <see cref="GetString"/>; the bytes are the same as <c>Put(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value))</c>.
    /// </summary>
    /// <param name="key">The key (at most 64 KiB of UTF-8).</param>
    /// <param name="value">The value (at most 64 MiB of UTF-8).</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="value"/> is null.</exception>
    /// <exception cref="System.Text.EncoderFallbackException">A string holds a lone surrogate (it has no UTF-8); nothing is written.</exception>
    /// <exception cref="RecordTooLargeException">The key or value exceeds the limits.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Put(string key, string value)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        using var k = Utf8Text.Encode(key);
        using var v = Utf8Text.Encode(value);
        Put(k.Span, v.Span);
    }

    /// <summary>
    /// Removes <paramref name="key"/>: always appends a Delete tombstone, even for an absent key. Durability as
    /// <see cref="Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Delete(ReadOnlySpan<byte> key) => Writer.AppendRecord(RecordType.Delete, key, default);

    /// <summary>Removes <paramref name="key"/> as <see cref="Delete(ReadOnlySpan{byte})"/> does; an empty array is the empty key.</summary>
    /// <param name="key">The key.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Delete(byte[] key)
    {
        ArgumentNullException.ThrowIfNull(key);
        Delete(key.AsSpan());
    }

    /// <summary>Removes the UTF-8 key <paramref name="key"/> (see <see cref="Put(string, string)"/>).</summary>
    /// <param name="key">The key.</param>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null.</exception>
    /// <exception cref="System.Text.EncoderFallbackException"><paramref name="key"/> holds a lone surrogate; nothing is written.</exception>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Delete(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        using var utf8 = Utf8Text.Encode(key);
        Delete(utf8.Span);
    }

    /// <summary>
    /// Asynchronous <see cref="Put(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>: the record is written before the first await (cancellation never
    /// leaves a torn frame); under <see cref="DurabilityMode.EveryAppend"/> the task completes once it is durable.
    /// </summary>
    /// <param name="key">The key.</param>
    /// <param name="value">The value.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Completes per the durability policy.</returns>
    public ValueTask PutAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken = default) =>
        WithoutResult(Writer.AppendRecordAsync(RecordType.Put, key, value, cancellationToken));

    /// <summary>Asynchronous <see cref="Delete(ReadOnlySpan{byte})"/>; see <see cref="PutAsync(ReadOnlyMemory{byte}, ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    /// <param name="key">The key.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Completes per the durability policy.</returns>
    public ValueTask DeleteAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken = default) =>
        WithoutResult(Writer.AppendRecordAsync(RecordType.Delete, key, default, cancellationToken));

    /// <summary>
    /// Asynchronous <see cref="Put(byte[], byte[])"/>: as <see cref="PutAsync(ReadOnlyMemory{byte}, ReadOnlyMemory{byte}, CancellationToken)"/>,
    /// but a null array throws instead of meaning empty.
    /// </summary>
    /// <param name="key">The key; an empty array is the empty key.</param>
    /// <param name="value">The value; an empty array is the empty value.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Completes per the durability policy.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> or <paramref name="value"/> is null (thrown at the call, not from the task).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The array overload mirrors the memory one so that kv.PutAsync(bytes, bytes) binds to it and null is refused; the parameter types never overlap ambiguously.")]
    public ValueTask PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        return PutAsync(key.AsMemory(), value.AsMemory(), cancellationToken);
    }

    /// <summary>Asynchronous <see cref="Delete(byte[])"/>; see <see cref="PutAsync(byte[], byte[], CancellationToken)"/>.</summary>
    /// <param name="key">The key; an empty array is the empty key.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Completes per the durability policy.</returns>
    /// <exception cref="ArgumentNullException"><paramref name="key"/> is null (thrown at the call, not from the task).</exception>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "See PutAsync(byte[], byte[], CancellationToken).")]
    public ValueTask DeleteAsync(byte[] key, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(key);
        return DeleteAsync(key.AsMemory(), cancellationToken);
    }

    /// <summary>
    /// Applies every put and delete of <paramref name="batch"/> in order with one write system call
    /// (consecutive txids). If the write fails the store's log is poisoned and the key directory is unchanged;
    /// a reopen shows a valid prefix of the batch (possibly empty). Readers see the batch whole or not at all.
    /// </summary>
    /// <param name="batch">The operations.</param>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Apply(KvBatch batch)
    {
        var log = Writer;
        ArgumentNullException.ThrowIfNull(batch);
        log.AppendBatch(batch.Records);
    }

    /// <summary>Asynchronous <see cref="Apply"/>; see <see cref="PutAsync(ReadOnlyMemory{byte}, ReadOnlyMemory{byte}, CancellationToken)"/>.</summary>
    /// <param name="batch">The operations.</param>
    /// <param name="cancellationToken">Cancels before the write, or stops the durability wait after it.</param>
    /// <returns>Completes per the durability policy.</returns>
    public ValueTask ApplyAsync(KvBatch batch, CancellationToken cancellationToken = default)
    {
        var log = Writer;
        ArgumentNullException.ThrowIfNull(batch);
        return WithoutResult(log.AppendBatchAsync(batch.Records, cancellationToken));
    }

    /// <summary>
    /// Seals the active segment (fsyncs it) and starts a new one; see <see cref="RecordLog.Rotate"/>.
    /// </summary>
    /// <exception cref="WriterPoisonedException">An earlier write failed on this store's log.</exception>
    /// <exception cref="DataWalException">A step failed (the store's log is now poisoned).</exception>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Rotate() => Writer.Rotate();

    /// <summary>The writer log; the key directory follows it as its observer, so a write cannot bypass it.</summary>
    internal RecordLog Writer
    {
        get
        {
            ThrowIfDisposed();
            return _log ?? throw ReadOnly();
        }
    }

    /// <summary>The key directory, once the store is known not to be disposed.</summary>
    private KeyProjection LiveKeys
    {
        get
        {
            ThrowIfDisposed();
            return Volatile.Read(ref _keys);
        }
    }

    /// <summary>
    /// Every data member of a disposed store throws <see cref="ObjectDisposedException"/> naming <c>KvStore</c> and
    /// its directory (not the lock or handle pool inside it). <see cref="Directory"/>, <see cref="IsReadOnly"/>,
    /// <see cref="IsPoisoned"/>, <see cref="RecoveryReport"/> and <see cref="AutoCompactionError"/> stay readable.
    /// </summary>
    private void ThrowIfDisposed()
    {
        if (Volatile.Read(ref _disposing) != 0)
        {
            ThrowDisposed();
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private void ThrowDisposed() =>
        throw new ObjectDisposedException(nameof(KvStore), $"datawal: this KvStore ({Directory}) has been disposed; open the store again to use it");

    /// <summary>An append's durability wait without its result, allocation-free when it already completed.</summary>
    private static ValueTask WithoutResult<T>(ValueTask<T> pending)
    {
        if (pending.IsCompletedSuccessfully)
        {
            pending.GetAwaiter().GetResult();   // consume it: the source may be pooled
            return ValueTask.CompletedTask;
        }

        return Await(pending);

        static async ValueTask Await(ValueTask<T> pending) => await pending.ConfigureAwait(false);
    }

    /// <summary>Makes every write so far durable (see <see cref="RecordLog.Fsync"/>).</summary>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    public void Fsync() => Writer.Fsync();

    /// <summary>Asynchronous <see cref="Fsync"/>, shared with concurrent callers (group commit).</summary>
    /// <param name="cancellationToken">Stops waiting (the writes stay; they may just not be durable yet).</param>
    /// <returns>Completes once every write before the call is durable.</returns>
    public ValueTask FsyncAsync(CancellationToken cancellationToken = default) => Writer.FsyncAsync(cancellationToken);

    /// <summary>
    /// Writes the live key set into a fresh log in <paramref name="outDirectory"/>: one Put per live key in
    /// bytewise key order (txids 1..N), no tombstones, fsynced, lock released. The source is never modified
    /// and stays usable. Byte-identical to upstream's <c>compact_to</c> for the same live set.
    /// </summary>
    /// <remarks>
    /// A non-empty target is refused, like an existing file in <see cref="ExportJsonl(string)"/>. Unlike the export there is
    /// no option to replace it: a file is replaced by one atomic rename, a directory only by deleting what is in it,
    /// which a copy should not do on your behalf. Delete the old directory yourself (or compact into a new one and swap).
    /// </remarks>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <returns>What was written.</returns>
    /// <exception cref="DataWalException">The target is not empty, or a read or write failed.</exception>
    public CompactionStats CompactTo(string outDirectory)
    {
        ThrowIfDisposed();
        return Compaction.Run(this, outDirectory, null, CancellationToken.None);
    }

    /// <summary>
    /// Compacts the store in its own directory, beside live writes and gets (docs/design.md D15): seals the active
    /// segment, copies each key's latest Put from the sealed segments — same frame, same txid, in log order — into an
    /// image, renames it over the lowest segment, points the key directory at it, and deletes the other sealed
    /// segments in ascending order. Every crash point leaves a store that opens with the same keys and values, here
    /// and in upstream.
    /// </summary>
    /// <remarks>
    /// Gets never wait for the copy and never see a value the key did not have; writes go on into newer segments.
    /// Memory is the keys of the compacted range plus one frame. One compaction runs at a time. Followers and readers
    /// elsewhere survive it (see <see cref="RecordLogReader.FollowAsync"/> for what a follower that was behind yields).
    /// </remarks>
    /// <returns>What it compacted and reclaimed.</returns>
    /// <exception cref="InvalidOperationException">The store is read-only.</exception>
    /// <exception cref="CorruptRecordException">A live frame no longer verifies; nothing changed.</exception>
    /// <exception cref="DataWalException">A step failed; the store on disk is consistent (see <see cref="SegmentCompaction.Commit"/>).</exception>
    public KvCompactionResult Compact() => OnlineCompaction.Run(Writer, _keys, _pool, _relocation, null, CancellationToken.None);

    /// <summary>
    /// <see cref="Compact"/> on the thread pool, with progress. Cancellation before the image is installed leaves the
    /// store exactly as it was (the unfinished image is removed, or, after a crash, by the next writer open).
    /// </summary>
    /// <param name="progress">Receives how far the copy is, or null.</param>
    /// <param name="cancellationToken">Stops the compaction before its image is installed.</param>
    /// <returns>What it compacted and reclaimed.</returns>
    public Task<KvCompactionResult> CompactAsync(IProgress<KvCompactionProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        var log = Writer;
        return Task.Run(() => OnlineCompaction.Run(log, _keys, _pool, _relocation, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// The frame bytes of every live key's latest Put (no I/O): what a compaction keeps. The segments' total size
    /// minus this is what it would reclaim.
    /// </summary>
    public long LiveBytes => LiveKeys.LiveBytes;

    /// <summary>The last failure of a background compaction (<see cref="KvStoreOptions.AutoCompaction"/>), or null.</summary>
    public Exception? AutoCompactionError => _auto?.LastError;

    /// <summary>
    /// Writes the live pairs as JSON lines <c>{"key_b64":"…","value_b64":"…"}</c> sorted bytewise by key into a
    /// <em>new</em> file, atomically and durably (temp file, fsync, rename, directory fsync), streaming; an empty store
    /// gives an empty file. The lines are byte-identical to upstream's <c>export_jsonl</c>.
    /// </summary>
    /// <remarks>
    /// An existing file at <paramref name="outPath"/> is refused (<see cref="DataWalException"/>, nothing written), also
    /// one that appears while the export runs (the final rename never replaces): the same rule as
    /// <see cref="CompactTo"/>, the <c>datawal export</c> command and <see cref="File.Copy(string, string)"/>. Pass
    /// <c>overwrite: true</c> (<see cref="ExportJsonl(string, bool)"/>) to replace it atomically. Earlier 0.1 builds of this
    /// overload replaced an existing file, as upstream's library does; refusing by default means a mistyped path can no
    /// longer destroy a file, and the old behaviour is one argument away.
    /// </remarks>
    /// <param name="outPath">The output file; missing parent directories are created.</param>
    /// <exception cref="DataWalException">The file exists (the inner exception is an <see cref="SafeAtomic.AlreadyExistsException"/>), or a write
    /// failed (the inner <see cref="SafeAtomic.SafeAtomicException"/> says whether anything was written).</exception>
    /// <exception cref="CorruptRecordException">A live frame no longer verifies; nothing is written.</exception>
    public void ExportJsonl(string outPath)
    {
        ThrowIfDisposed();
        JsonlExport.Run(this, outPath, overwrite: false, null, CancellationToken.None);
    }

    /// <summary>
    /// <see cref="ExportJsonl(string)"/>, choosing what happens to an existing file: refused when
    /// <paramref name="overwrite"/> is false; replaced atomically when it is true (readers and crashes see the old file
    /// or the whole new one, never a mix).
    /// </summary>
    /// <param name="outPath">The output file; missing parent directories are created.</param>
    /// <param name="overwrite">True to replace an existing file.</param>
    /// <exception cref="DataWalException">The file exists and <paramref name="overwrite"/> is false, or a write failed.</exception>
    /// <exception cref="CorruptRecordException">A live frame no longer verifies; nothing is written (an existing file is intact).</exception>
    public void ExportJsonl(string outPath, bool overwrite)
    {
        ThrowIfDisposed();
        JsonlExport.Run(this, outPath, overwrite, null, CancellationToken.None);
    }

    /// <summary>
    /// Asynchronous <see cref="CompactTo"/> on the thread pool. Cancellation stops it between records; the
    /// target then holds a valid log of a prefix of the sorted keys (delete it), and the source is untouched.
    /// </summary>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <param name="cancellationToken">Stops the compaction.</param>
    /// <returns>What was written.</returns>
    public Task<CompactionStats> CompactToAsync(string outDirectory, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => Compaction.Run(this, outDirectory, null, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// <see cref="CompactToAsync(string, CancellationToken)"/> with progress: <paramref name="progress"/> hears how many
    /// live keys were copied every few thousand keys, and once more when the copy is written and fsynced
    /// (<see cref="KvCopyProgress.KeysCopied"/> = <see cref="KvCopyProgress.KeysTotal"/>).
    /// </summary>
    /// <remarks>
    /// Reports are made on the copying thread, in order. A <see cref="Progress{T}"/> posts them to the context it was
    /// created on, so they may arrive after the task completes; an <see cref="IProgress{T}"/> of your own gets them at once.
    /// </remarks>
    /// <param name="outDirectory">A missing or empty directory.</param>
    /// <param name="progress">Receives how far the copy is, or null.</param>
    /// <param name="cancellationToken">Stops the compaction between records (the target then holds a prefix: delete it).</param>
    /// <returns>What was written.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The progress parameter is required here, so no call is ambiguous with CompactToAsync(string, CancellationToken).")]
    public Task<CompactionStats> CompactToAsync(string outDirectory, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => Compaction.Run(this, outDirectory, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// Asynchronous <see cref="ExportJsonl(string)"/> on the thread pool (an existing file is refused). Cancellation
    /// before the final rename leaves any existing file untouched and no temp file behind.
    /// </summary>
    /// <param name="outPath">The output file.</param>
    /// <param name="cancellationToken">Stops the export.</param>
    /// <returns>Completes when the file is durable.</returns>
    public Task ExportJsonlAsync(string outPath, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => JsonlExport.Run(this, outPath, overwrite: false, null, cancellationToken), cancellationToken);
    }

    /// <summary>Asynchronous <see cref="ExportJsonl(string, bool)"/>; see <see cref="ExportJsonlAsync(string, CancellationToken)"/>.</summary>
    /// <param name="outPath">The output file.</param>
    /// <param name="overwrite">True to replace an existing file.</param>
    /// <param name="cancellationToken">Stops the export.</param>
    /// <returns>Completes when the file is durable.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "Mirrors ExportJsonl(string, bool); the bool parameter is required, so no call is ambiguous.")]
    public Task ExportJsonlAsync(string outPath, bool overwrite, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => JsonlExport.Run(this, outPath, overwrite, null, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// <see cref="ExportJsonlAsync(string, bool, CancellationToken)"/> with progress: <paramref name="progress"/> hears how
    /// many lines were written every few thousand keys, and once more when the file is durable and in place
    /// (<see cref="KvCopyProgress.KeysCopied"/> = <see cref="KvCopyProgress.KeysTotal"/>). Reports are made in order and
    /// one at a time, but not always on the same thread: the export encodes on one worker thread per core, and the
    /// worker that has just written a chunk reports it.
    /// </summary>
    /// <param name="outPath">The output file.</param>
    /// <param name="overwrite">True to replace an existing file.</param>
    /// <param name="progress">Receives how far the export is, or null.</param>
    /// <param name="cancellationToken">Stops the export (any existing file stays untouched).</param>
    /// <returns>Completes when the file is durable.</returns>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("ApiDesign", "RS0026:Do not add multiple public overloads with optional parameters",
        Justification = "The progress parameter is required here, so no call is ambiguous with the other overloads.")]
    public Task ExportJsonlAsync(string outPath, bool overwrite, IProgress<KvCopyProgress>? progress, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        return Task.Run(() => JsonlExport.Run(this, outPath, overwrite, progress, cancellationToken), cancellationToken);
    }

    /// <summary>
    /// A live feed of this store's changes: every put and delete record from <paramref name="position"/> on,
    /// in log order, then new ones as they are written (by this store or by a writer in another process)
    /// until cancelled. The log-level feed (<see cref="RecordLogReader.FollowAsync"/>) restricted to the
    /// record types the store is made of; the same guarantees hold (rotations crossed, no torn frame, writer
    /// restarts survived, <see cref="FollowOptions.DurableOnly"/>).
    /// </summary>
    /// <param name="position">Where to start; <see cref="FollowPosition.After"/> takes a <see cref="RefOf(ReadOnlySpan{byte})"/> or a record's <see cref="Record.Ref"/>.</param>
    /// <param name="options">Options, or null for the defaults.</param>
    /// <param name="cancellationToken">Ends the feed with <see cref="OperationCanceledException"/>.</param>
    /// <returns>Put records (key, value) and Delete records (key, empty payload).</returns>
    public IAsyncEnumerable<Record> FollowChangesAsync(FollowPosition position, FollowOptions? options = null, CancellationToken cancellationToken = default)
    {
        ThrowIfDisposed();
        var records = RecordLogReader.Open(Directory).FollowAsync(position, options, cancellationToken);
        return OnlyChanges(records, cancellationToken);
    }

    private static async IAsyncEnumerable<Record> OnlyChanges(IAsyncEnumerable<Record> records, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var record in records.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (record.Type is RecordType.Put or RecordType.Delete)
            {
                yield return record;
            }
        }
    }

    /// <summary>
    /// Stops a background compaction, releases the read handles and the writer lock (if any). Under
    /// <see cref="DurabilityMode.Manual"/> nothing is fsynced implicitly; under the other modes the log runs a last fsync
    /// first, and if it fails the store is released all the same and then the failure is thrown, as
    /// <see cref="RecordLog.Dispose"/> explains (a poisoned store throws nothing: its failure was already thrown by the
    /// write or fsync that met it). Disposing twice or from several threads at once is safe.
    /// </summary>
    /// <exception cref="DataWalException">The last fsync failed (everything is released anyway).</exception>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            _disposed.Task.GetAwaiter().GetResult();   // another call is releasing: return once it has
            return;
        }

        try
        {
            _auto?.Dispose();
            _pool.Dispose();
            _log?.Dispose();
        }
        finally
        {
            ReleaseRest();
        }
    }

    /// <summary>
    /// <see cref="Dispose"/> without blocking the caller's thread: a background compaction is cancelled and awaited, and
    /// the log's last fsync awaited (<see cref="RecordLog.DisposeAsync"/>). Same rules as <see cref="Dispose"/>.
    /// </summary>
    /// <returns>Completes once everything is released.</returns>
    /// <exception cref="DataWalException">The last fsync failed (everything is released anyway).</exception>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposing, 1) != 0)
        {
            await _disposed.Task.ConfigureAwait(false);
            return;
        }

        try
        {
            if (_auto is not null)
            {
                await _auto.DisposeAsync().ConfigureAwait(false);
            }

            _pool.Dispose();
            if (_log is not null)
            {
                await _log.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            ReleaseRest();
        }
    }

    private void ReleaseRest()
    {
        try
        {
            _keys.Dispose();
            _relocation.Dispose();
        }
        finally
        {
            _disposed.TrySetResult();
        }
    }

    /// <summary>A consistent copy of the live (key, location) pairs, optionally sorted bytewise by key.</summary>
    internal KeySnapshot Snapshot(bool sorted) => _keys.Snapshot(sorted);

    /// <summary>Keeps locations from moving (no compaction switch) while a snapshot is taken and its values are read.</summary>
    internal Relocation.Scope EnterStableLocations() => _relocation.EnterStable();

    /// <summary>The store's open segments, for tests of the read path.</summary>
    internal ReadHandlePool ReadPool => _pool;

    /// <summary>The segment writes may still go to: gets read those below it as sealed.</summary>
    internal uint SealedBelow => Volatile.Read(ref _keys).ActiveSegment;

    /// <summary>The segments' total size now (a listing and a stat of each).</summary>
    internal long StoreBytes()
    {
        long total = 0;
        foreach (uint id in SegmentFiles.List(Directory))
        {
            try
            {
                total += new FileInfo(SegmentFiles.PathFor(Directory, id)).Length;
            }
            catch (FileNotFoundException)
            {
                // Deleted by a compaction since the listing.
            }
        }

        return total;
    }

    /// <summary>
    /// Reads and verifies the value of each snapshotted pair in order, one frame buffer for all of them,
    /// and hands key and value to <paramref name="visit"/> (views valid only during the call).
    /// </summary>
    internal void ReadValues(KeySnapshot live, ValueVisitor visit, CancellationToken cancellationToken) =>
        ReadValues(live, 0, live.Count, visit, cancellationToken);

    /// <summary>
    /// <see cref="ReadValues(KeySnapshot, ValueVisitor, CancellationToken)"/> for the snapshot's entries
    /// <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive): several threads may each read a range.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // once per live key: full speed from the first
    internal void ReadValues(KeySnapshot live, int from, int to, ValueVisitor visit, CancellationToken cancellationToken)
    {
        byte[] frame = System.Buffers.ArrayPool<byte>.Shared.Rent(64 * 1024);
        // Read once: segments below it are sealed now and stay so (a rotation only moves it up), so their values
        // may come from mappings; a lagging value only means a pread where a mapping would do.
        uint activeSegment = SealedBelow;
        try
        {
            for (int i = from; i < to; i++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (i + PrefetchDistance < to)
                {
                    // Sorted by key, the frames are in random places: start loading one a few reads ahead.
                    var ahead = live.RefAt(i + PrefetchDistance);
                    _pool.Prefetch(ahead.Segment, (long)ahead.Offset, (int)Math.Min(ahead.Length, 256u), activeSegment);
                }

                var key = live.KeyAt(i);
                var location = live.RefAt(i);
                if (frame.Length < location.Length)
                {
                    System.Buffers.ArrayPool<byte>.Shared.Return(frame);
                    frame = System.Buffers.ArrayPool<byte>.Shared.Rent((int)location.Length);
                }

                visit(key, ValueReader.Verify(_pool, key, location, frame.AsSpan(0, (int)location.Length), activeSegment), location);
            }
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(frame);
        }
    }

    /// <summary>How many reads ahead <see cref="ReadValues(KeySnapshot, int, int, ValueVisitor, CancellationToken)"/> prefetches: enough to cover a memory miss.</summary>
    private const int PrefetchDistance = 8;

    /// <summary>Receives one live pair from <see cref="ReadValues(KeySnapshot, ValueVisitor, CancellationToken)"/>.</summary>
    internal delegate void ValueVisitor(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, RecordRef location);

    private static InvalidOperationException ReadOnly() => new("datawal: the store was opened read-only; writes need KvStore.Open");
}
