package layer

import (
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameEncoder compresses independent zstd frames on a pool of encoders
// and writes them to w in the order they were submitted. Every frame is
// compressed on its own (zstd.Encoder.EncodeAll, one encoder at a fixed
// level per frame), so the bytes of each frame depend only on its input
// and the level, never on how many frames are compressed at once: the
// output is the same whatever the number of CPUs.
//
// Frames are submitted in jobs (one or more frames each) so that tiny
// frames (zstd:chunked's per-file frames) do not cost one goroutine each.
// At most cap(queue)+1 jobs are in memory at once.
type frameEncoder struct {
	w     io.Writer
	enc   *zstd.Encoder
	queue chan *frameJob
	done  chan struct{}
	free  chan *frameJob // jobs to reuse, with their buffers

	mu  sync.Mutex
	err error // first error writing to w

	// sizes, when record is set, is the compressed size of every frame in
	// order (read after close).
	record bool
	sizes  []int64
}

// frameJob is one or more frames: src holds their inputs back to back,
// ends[i] is the end of frame i in src; out receives the compressed
// frames and outEnds their ends in out.
type frameJob struct {
	src     []byte
	ends    []int
	out     []byte
	outEnds []int
	ready   chan struct{}
}

// newFrameEncoder returns an encoder at zstd level (a zstd.EncoderLevel)
// running up to workers frames at once.
func newFrameEncoder(w io.Writer, level, workers int) (*frameEncoder, error) {
	workers = max(1, workers)
	// The level goes first: it would otherwise reset the window.
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.EncoderLevel(level)),
		zstd.WithWindowSize(ZstdWindow),
		zstd.WithEncoderConcurrency(workers),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return nil, err
	}
	e := &frameEncoder{w: w, enc: enc, queue: make(chan *frameJob, 2*workers), done: make(chan struct{}),
		free: make(chan *frameJob, 2*workers+2)}
	go e.writeLoop()
	return e, nil
}

// job returns an empty job to fill with frame inputs (add) and submit.
func (e *frameEncoder) job() *frameJob {
	select {
	case j := <-e.free:
		return j
	default:
		return &frameJob{}
	}
}

// add appends p to the job's current frame.
func (j *frameJob) add(p []byte) { j.src = append(j.src, p...) }

// cut ends the job's current frame; an empty frame is dropped.
func (j *frameJob) cut() {
	last := 0
	if len(j.ends) > 0 {
		last = j.ends[len(j.ends)-1]
	}
	if len(j.src) > last {
		j.ends = append(j.ends, len(j.src))
	}
}

// pending is the size of the job's current, not yet cut frame.
func (j *frameJob) pending() int {
	if len(j.ends) == 0 {
		return len(j.src)
	}
	return len(j.src) - j.ends[len(j.ends)-1]
}

// submit cuts the job's last frame and queues the job for compression;
// the encoder owns it from then on. It returns the first error writing
// the output, if any.
func (e *frameEncoder) submit(j *frameJob) error {
	j.cut()
	if err := e.failed(); err != nil {
		return err
	}
	if len(j.ends) == 0 {
		e.recycle(j)
		return nil
	}
	j.ready = make(chan struct{})
	e.queue <- j
	go func() {
		start := 0
		for _, end := range j.ends {
			j.out = e.enc.EncodeAll(j.src[start:end], j.out)
			j.outEnds = append(j.outEnds, len(j.out))
			start = end
		}
		close(j.ready)
	}()
	return nil
}

func (e *frameEncoder) recycle(j *frameJob) {
	j.src, j.ends, j.out, j.outEnds, j.ready = j.src[:0], j.ends[:0], j.out[:0], j.outEnds[:0], nil
	select {
	case e.free <- j:
	default:
	}
}

// writeLoop writes the jobs' frames in order as they are ready.
func (e *frameEncoder) writeLoop() {
	defer close(e.done)
	for j := range e.queue {
		<-j.ready
		if e.failed() == nil {
			if _, err := e.w.Write(j.out); err != nil {
				e.mu.Lock()
				e.err = err
				e.mu.Unlock()
			}
		}
		if e.record {
			start := 0
			for _, end := range j.outEnds {
				e.sizes = append(e.sizes, int64(end-start))
				start = end
			}
		}
		e.recycle(j)
	}
}

func (e *frameEncoder) failed() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// close waits until every submitted frame is written and frees the
// encoders. It returns the first write error.
func (e *frameEncoder) close() error {
	close(e.queue)
	<-e.done
	e.enc.Close()
	return e.failed()
}

// blockWriter is the io.WriteCloser of Zstd layers: it cuts the stream
// into blocks of a fixed size and compresses each as an independent zstd
// frame (the last block may be shorter). Concatenated frames are one
// valid zstd stream for every decoder; the block boundaries depend only on
// the block size, never on how the stream was cut into writes.
type blockWriter struct {
	e    *frameEncoder
	size int
	cur  *frameJob
	err  error
	once sync.Once // Close's work, done once
}

func newBlockWriter(w io.Writer, level, blockSize, workers int) (*blockWriter, error) {
	e, err := newFrameEncoder(w, level, workers)
	if err != nil {
		return nil, err
	}
	return &blockWriter{e: e, size: blockSize, cur: e.job()}, nil
}

func (b *blockWriter) Write(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), b.size-b.cur.pending())
		b.cur.add(p[:k])
		p = p[k:]
		if b.cur.pending() == b.size {
			if b.err = b.e.submit(b.cur); b.err != nil {
				return n - len(p), b.err
			}
			b.cur = b.e.job()
		}
	}
	return n, nil
}

// Close compresses the last block and waits for every frame to be
// written. It always stops the encoder's goroutines.
func (b *blockWriter) Close() error {
	err := b.err
	b.once.Do(func() {
		if err == nil {
			err = b.e.submit(b.cur)
		}
		if cerr := b.e.close(); err == nil {
			err = cerr
		}
	})
	return err
}
