using System.Buffers;
using Microsoft.Win32.SafeHandles;

namespace SafeAtomic.Internal;

/// <summary>
/// A write-only, forward-only stream over a file handle whose writes go through <see cref="FileSync"/>
/// (and so through the system-call seam). Buffers small writes into one pooled block.
/// </summary>
internal sealed class HandleWriteStream : Stream
{
    private const int BufferSize = 64 * 1024;

    private readonly SafeFileHandle _handle;
    private byte[]? _buffer;
    private int _buffered;
    private long _position;
    private long _writebackStarted;   // bytes before this offset were handed to WritebackHint
    private bool _closed;

    public HandleWriteStream(SafeFileHandle handle)
    {
        _handle = handle;
        _buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
    }

    public override bool CanRead => false;

    public override bool CanSeek => false;

    public override bool CanWrite => !_closed && _buffer is not null;

    public override long Length => _position + _buffered;

    public override long Position
    {
        get => _position + _buffered;
        set => throw new NotSupportedException();
    }

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_closed || _buffer is null, this);
        var block = _buffer!;

        if (buffer.Length >= block.Length)
        {
            Flush();
            FileSync.Write(_handle, buffer, _position);
            _position += buffer.Length;
            StartWritebackIfDue();
            return;
        }

        if (_buffered + buffer.Length > block.Length)
        {
            Flush();
        }

        buffer.CopyTo(block.AsSpan(_buffered));
        _buffered += buffer.Length;
    }

    public override void WriteByte(byte value) => Write([value]);

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Write(buffer.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Hands buffered bytes to the kernel (not an fsync).</summary>
    public override void Flush()
    {
        if (_buffered > 0 && _buffer is not null)
        {
            FileSync.Write(_handle, _buffer.AsSpan(0, _buffered), _position);
            _position += _buffered;
            _buffered = 0;
            StartWritebackIfDue();
        }
    }

    /// <summary>Every <see cref="WritebackHint.Bytes"/> written: the disk starts on them while the writer goes on.</summary>
    private void StartWritebackIfDue()
    {
        if (_position - _writebackStarted >= WritebackHint.Bytes)
        {
            WritebackHint.Start(_handle, _writebackStarted, _position - _writebackStarted);
            _writebackStarted = _position;
        }
    }

    public override Task FlushAsync(CancellationToken cancellationToken)
    {
        Flush();
        return Task.CompletedTask;
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        // A body may dispose the stream it was given (BinaryWriter, GZipStream, `using`): that closes it for
        // further writes but keeps the buffered bytes, which the protocol still flushes before committing.
        _closed = true;
        base.Dispose(disposing);
    }

    /// <summary>Returns the pooled buffer; called by the protocol once it is done with the stream.</summary>
    internal void Release()
    {
        _closed = true;
        var buffer = _buffer;
        _buffer = null;
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
