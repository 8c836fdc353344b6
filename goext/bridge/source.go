package bridge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/pg-bulk-ingest-go/pg-bulk-ingest-go/goext/engine"
)

// The host's side of engine.Source (the user's batches, high watermark
// and on_before_visible) and of engine.Logger.

func (h *host) Start(ctx context.Context, stored json.RawMessage) error {
	_, err := h.call(ctx, OpStart, stored, nil)
	return err
}

func (h *host) NextBatch(ctx context.Context) (*engine.Batch, error) {
	a, err := h.call(ctx, OpNextBatch, nil, nil)
	if err != nil {
		return nil, err
	}
	var b *NextBatchAnswer
	if err := json.Unmarshal(a.JSON, &b); err != nil {
		return nil, fmt.Errorf("decoding batch: %w", err)
	}
	if b == nil {
		return nil, nil
	}
	return &engine.Batch{Metadata: b.Metadata, HighWatermark: b.HighWatermark}, nil
}

func (h *host) NextChunk(ctx context.Context) (*engine.Chunk, error) {
	a, err := h.call(ctx, OpNextChunk, nil, nil)
	if err != nil {
		return nil, err
	}
	var c *ChunkAnswer
	err = json.Unmarshal(a.JSON, &c)
	// A chunk has its record or its SQL; the batch's end (null) neither.
	if err != nil || (c == nil && a.Record != nil) || (c != nil && (c.SQL != "") == (a.Record != nil)) {
		if a.Record != nil {
			a.Record.Release()
		}
		return nil, fmt.Errorf("malformed chunk from the host")
	}
	if c == nil {
		return nil, nil
	}
	return &engine.Chunk{Table: c.Table, Record: a.Record, SQL: c.SQL}, nil
}

func (h *host) HighWatermark(ctx context.Context) (json.RawMessage, string, error) {
	a, err := h.call(ctx, OpHighWatermark, nil, nil)
	if err != nil {
		return nil, "", err
	}
	var hwm HighWatermarkAnswer
	if err := json.Unmarshal(a.JSON, &hwm); err != nil {
		return nil, "", fmt.Errorf("decoding high watermark: %w", err)
	}
	return hwm.Value, hwm.Text, nil
}

func (h *host) OnBeforeVisible(ctx context.Context, table int, schema, name string) error {
	_, err := h.call(ctx, OpOnBeforeVisible, OnBeforeVisibleRequest{Table: table, Schema: schema, Name: name}, nil)
	return err
}

func (h *host) OnDuplicate(ctx context.Context, schema, partition, source string) (bool, error) {
	a, err := h.call(ctx, OpOnDuplicate, OnDuplicateRequest{Schema: schema, Partition: partition, Source: source}, nil)
	if err != nil {
		return false, err
	}
	var d OnDuplicateAnswer
	if err := json.Unmarshal(a.JSON, &d); err != nil {
		return false, fmt.Errorf("decoding on_duplicate's result: %w", err)
	}
	return d.Result, nil
}

func (h *host) OnPartitionAttached(ctx context.Context, schema, partition string, metadata json.RawMessage) error {
	_, err := h.call(ctx, OpOnPartitionAttached, OnPartitionAttachedRequest{Schema: schema, Partition: partition, Metadata: metadata}, nil)
	return err
}

// Info sends a log line; a failing logger must not fail the ingest.
func (h *host) Info(format string, args ...string) {
	h.log(LogRequest{Msg: format, Args: args})
}

// VersionedLog sends a line for ingest_versioned's own logger.
func (h *host) VersionedLog(warn bool, format string, args ...string) {
	h.log(LogRequest{Msg: format, Args: args, Logger: "partition_wrapper", Warning: warn})
}

func (h *host) log(r LogRequest) {
	if r.Args == nil {
		r.Args = []string{}
	}
	h.call(context.Background(), OpLog, r, nil) //nolint:errcheck
}
