/*
 * cmcrd open EEG profile — reference packet encoder (header-only, C99, no allocation).
 * Spec: docs/open-eeg-profile.md. Little-endian wire format, independent of the host's endianness.
 *
 * Usage on a board (e.g. ADS1299 on nRF52/ESP32):
 *   uint8_t pkt[CMCRD_OE_MAX_PACKET];
 *   cmcrd_oe_stream s; cmcrd_oe_init(&s, 8, 250, CMCRD_OE_INT24, 0.02235174f);
 *   size_t n = cmcrd_oe_encode(&s, samples, frames, battery_percent, pkt, sizeof pkt);
 *   if (n) notify(data_characteristic, pkt, n);   // n == 0: arguments do not fit
 * samples are frame-major: samples[f * channels + c], signed counts (int24 values in int32_t).
 * Packets are format version 2 (a CRC-16/CCITT-FALSE trailer); set s.version = 1 after init for hosts that
 * predate it (cmcrd decodes both).
 */
#ifndef CMCRD_OPEN_EEG_H
#define CMCRD_OPEN_EEG_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CMCRD_OE_VERSION 2u
#define CMCRD_OE_HEADER_BYTES 14u
#define CMCRD_OE_CRC_BYTES 2u /* version 2: CRC-16/CCITT-FALSE of every byte before it, little-endian */
#define CMCRD_OE_MAX_CHANNELS 64u
#define CMCRD_OE_MAX_PACKET 512u

/* 128-bit UUIDs (service, data notify, control write, info read). Battery: standard 0x180F / 0x2A19. */
#define CMCRD_OE_SERVICE_UUID "c3d00001-5e1f-4b7a-9a36-2f1c0e0e0ee9"
#define CMCRD_OE_DATA_UUID "c3d00002-5e1f-4b7a-9a36-2f1c0e0e0ee9"
#define CMCRD_OE_CONTROL_UUID "c3d00003-5e1f-4b7a-9a36-2f1c0e0e0ee9"
#define CMCRD_OE_INFO_UUID "c3d00004-5e1f-4b7a-9a36-2f1c0e0e0ee9"

/* Control opcodes (one byte written to the control characteristic). */
#define CMCRD_OE_CMD_STOP 0x00u
#define CMCRD_OE_CMD_START 0x01u
#define CMCRD_OE_CMD_KEEPALIVE 0x02u

#define CMCRD_OE_FLAG_RESTART 0x04u
#define CMCRD_OE_BATTERY_UNKNOWN 255u

typedef enum { CMCRD_OE_INT16 = 0, CMCRD_OE_INT24 = 1 } cmcrd_oe_format;

typedef struct {
  uint8_t channels;
  uint8_t format; /* cmcrd_oe_format */
  uint16_t sample_rate;
  float uv_per_count;
  uint16_t sequence; /* next packet's sequence number */
  uint8_t restart;   /* 1 until the first packet after (re)start has been encoded */
  uint8_t version;   /* packet format: CMCRD_OE_VERSION (2, with CRC) after init; 1 for older hosts */
} cmcrd_oe_stream;

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, no final xor ("123456789" -> 0x29B1). */
static inline uint16_t cmcrd_oe_crc16(const uint8_t *p, size_t n) {
  uint16_t crc = 0xFFFFu;
  size_t i;
  int b;
  for (i = 0; i < n; i++) {
    crc = (uint16_t)(crc ^ ((uint16_t)p[i] << 8));
    for (b = 0; b < 8; b++) crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
  }
  return crc;
}

/* Prepare a stream; call again (or cmcrd_oe_restart) whenever streaming (re)starts. Returns 0 on bad arguments. */
static inline int cmcrd_oe_init(cmcrd_oe_stream *s, uint8_t channels, uint16_t sample_rate, cmcrd_oe_format format, float uv_per_count) {
  if (!s || channels < 1 || channels > CMCRD_OE_MAX_CHANNELS || sample_rate == 0 || !(uv_per_count > 0.0f)) return 0;
  if (format != CMCRD_OE_INT16 && format != CMCRD_OE_INT24) return 0;
  s->channels = channels;
  s->format = (uint8_t)format;
  s->sample_rate = sample_rate;
  s->uv_per_count = uv_per_count;
  s->sequence = 0;
  s->restart = 1;
  s->version = CMCRD_OE_VERSION;
  return 1;
}

static inline void cmcrd_oe_restart(cmcrd_oe_stream *s) { s->restart = 1; }

/* Bytes a packet of `frames` frames needs. */
static inline size_t cmcrd_oe_packet_size(const cmcrd_oe_stream *s, uint8_t frames) {
  return CMCRD_OE_HEADER_BYTES + (size_t)frames * s->channels * (s->format == CMCRD_OE_INT24 ? 3u : 2u) + (s->version >= 2 ? CMCRD_OE_CRC_BYTES : 0u);
}

/* Most frames per packet for a notification payload of `payload` bytes (ATT MTU - 3). */
static inline uint8_t cmcrd_oe_frames_for_payload(const cmcrd_oe_stream *s, size_t payload) {
  size_t per = (size_t)s->channels * (s->format == CMCRD_OE_INT24 ? 3u : 2u);
  size_t fixed = CMCRD_OE_HEADER_BYTES + (s->version >= 2 ? CMCRD_OE_CRC_BYTES : 0u);
  size_t f = payload > fixed ? (payload - fixed) / per : 0;
  return (uint8_t)(f > 255 ? 255 : f);
}

static inline int32_t cmcrd_oe_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/*
 * Encode one packet of `frames` frames (samples[f * channels + c], counts) into out[cap].
 * battery_percent: 0–100, or CMCRD_OE_BATTERY_UNKNOWN. Returns the packet length, or 0 if it does not fit
 * (frames 0, too many frames, cap too small, unknown version). Advances the sequence number and clears the
 * restart flag. Version 2 packets end with the CRC of everything before it.
 */
static inline size_t cmcrd_oe_encode(cmcrd_oe_stream *s, const int32_t *samples, uint8_t frames, uint8_t battery_percent, uint8_t *out, size_t cap) {
  size_t n, i, total;
  uint32_t scale_bits;
  uint8_t *p;
  if (!s || !samples || !out || frames == 0 || (s->version != 1u && s->version != 2u)) return 0;
  n = cmcrd_oe_packet_size(s, frames);
  if (n > cap) return 0;
  out[0] = s->version;
  out[1] = CMCRD_OE_HEADER_BYTES;
  out[2] = (uint8_t)(s->format | (s->restart ? CMCRD_OE_FLAG_RESTART : 0u));
  out[3] = s->channels;
  out[4] = frames;
  out[5] = battery_percent > 100 ? CMCRD_OE_BATTERY_UNKNOWN : battery_percent;
  out[6] = (uint8_t)(s->sequence & 0xffu);
  out[7] = (uint8_t)(s->sequence >> 8);
  out[8] = (uint8_t)(s->sample_rate & 0xffu);
  out[9] = (uint8_t)(s->sample_rate >> 8);
  memcpy(&scale_bits, &s->uv_per_count, sizeof scale_bits); /* IEEE 754 binary32 assumed */
  out[10] = (uint8_t)(scale_bits & 0xffu);
  out[11] = (uint8_t)((scale_bits >> 8) & 0xffu);
  out[12] = (uint8_t)((scale_bits >> 16) & 0xffu);
  out[13] = (uint8_t)(scale_bits >> 24);
  p = out + CMCRD_OE_HEADER_BYTES;
  total = (size_t)frames * s->channels;
  for (i = 0; i < total; i++) {
    if (s->format == CMCRD_OE_INT16) {
      uint16_t v = (uint16_t)(int16_t)cmcrd_oe_clamp(samples[i], -32768, 32767);
      *p++ = (uint8_t)(v & 0xffu);
      *p++ = (uint8_t)(v >> 8);
    } else {
      uint32_t v = (uint32_t)cmcrd_oe_clamp(samples[i], -8388608, 8388607);
      *p++ = (uint8_t)(v & 0xffu);
      *p++ = (uint8_t)((v >> 8) & 0xffu);
      *p++ = (uint8_t)((v >> 16) & 0xffu);
    }
  }
  if (s->version >= 2) {
    uint16_t crc = cmcrd_oe_crc16(out, (size_t)(p - out));
    *p++ = (uint8_t)(crc & 0xffu);
    *p++ = (uint8_t)(crc >> 8);
  }
  s->sequence = (uint16_t)(s->sequence + 1u);
  s->restart = 0;
  return n;
}

#endif /* CMCRD_OPEN_EEG_H */
