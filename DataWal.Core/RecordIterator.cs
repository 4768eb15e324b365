using System.Collections;
using System.Runtime.CompilerServices;

namespace DataWal.Core;

/// <summary>
/// A lazy pass over a snapshot of segments (upstream <c>RecordIter</c>), holding one record at a time:
/// memory is bounded by the largest frame. Enumerating it again reads the log afresh. A hard error is
/// thrown from <c>MoveNext</c> as <see cref="CorruptRecordException"/> after the records before it.
/// </summary>
public sealed class RecordIterator : IEnumerable<Record>
{
    private readonly string _directory;
    private readonly IReadOnlyList<uint> _segments;
    private readonly long _lastSegmentBound;
    private readonly int _bufferSize;
    private readonly ReadMode _mode;
    private LogScanner? _current;
    private SalvageScanner? _currentSalvage;
    private RecoveryReport _report = new();

    internal RecordIterator(string directory, IReadOnlyList<uint> segments, long lastSegmentBound, int bufferSize, ReadMode mode = ReadMode.Strict)
    {
        _directory = directory;
        _segments = segments;
        _lastSegmentBound = lastSegmentBound;
        _bufferSize = bufferSize;
        _mode = mode;
    }

    /// <summary>
    /// What the latest enumeration found so far; complete once it finished (records, files, tail, and in
    /// <see cref="ReadMode.Salvage"/> the skipped ranges).
    /// </summary>
    public RecoveryReport RecoveryReport => Volatile.Read(ref _current)?.Report ?? Volatile.Read(ref _currentSalvage)?.Report ?? _report;

    /// <summary>How this pass treats damage.</summary>
    public ReadMode Mode => _mode;

    /// <summary>The segment ids this iterator reads.</summary>
    public IReadOnlyList<uint> Segments => _segments;

    /// <inheritdoc/>
    public IEnumerator<Record> GetEnumerator() => _mode == ReadMode.Salvage ? Salvage() : Strict();

    private IEnumerator<Record> Salvage()
    {
        var scanner = new SalvageScanner(_directory, _segments, _lastSegmentBound);
        Volatile.Write(ref _currentSalvage, scanner);
        try
        {
            while (scanner.MoveNext())
            {
                yield return scanner.ToRecord();
            }
        }
        finally
        {
            _report = scanner.Report;
            Interlocked.CompareExchange(ref _currentSalvage, null, scanner);
            scanner.Dispose();
        }
    }

    private StrictEnumerator Strict() => new StrictEnumerator(this, new LogScanner(_directory, _segments, _lastSegmentBound, _bufferSize));

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>
    /// The strict pass as a plain enumerator rather than an iterator method, so that its <see cref="MoveNext"/> — once
    /// per record — can be compiled fully optimized at once.
    /// </summary>
    private sealed class StrictEnumerator : IEnumerator<Record>
    {
        private readonly RecordIterator _owner;
        private LogScanner? _scanner;
        private Record? _current;

        public StrictEnumerator(RecordIterator owner, LogScanner scanner)
        {
            _owner = owner;
            _scanner = scanner;
            Volatile.Write(ref owner._current, scanner);
        }

        public Record Current => _current!;

        object IEnumerator.Current => Current;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool MoveNext()
        {
            var scanner = _scanner;
            if (scanner is null)
            {
                return false;
            }

            bool more;
            try
            {
                more = scanner.MoveNext();
            }
            catch
            {
                Dispose();
                throw;
            }

            if (more)
            {
                _current = scanner.ToRecord();
                return true;
            }

            Dispose();
            return false;
        }

        public void Reset() => throw new NotSupportedException();

        public void Dispose()
        {
            var scanner = _scanner;
            if (scanner is null)
            {
                return;
            }

            _scanner = null;
            _owner._report = scanner.Report;
            Interlocked.CompareExchange(ref _owner._current, null, scanner);
            scanner.Dispose();
        }
    }
}
