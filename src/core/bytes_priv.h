/*
 * bytes_priv.h — little-endian encoding of integers and IEEE floats, byte
 * by byte, so that files are the same on every host. Shared by the model
 * file (model/model_io.c) and the checkpoint file (train/checkpoint.c).
 */
#ifndef MFR_BYTES_PRIV_H
#define MFR_BYTES_PRIV_H

#include <stdint.h>
#include <string.h>

/* The first bytes of the two file kinds. Each reader names the other kind
 * when it is handed one (a model given to --resume, a checkpoint given as
 * a model). */
#define MFR_MODEL_MAGIC "MFRECMDL"
#define MFR_CKPT_MAGIC "MFRECCKP"
#define MFR_MAGIC_LEN 8

static inline void mfr_put_le32(unsigned char *b, uint32_t v)
{
    for (int s = 0; s < 4; s++) b[s] = (unsigned char)(v >> (8 * s));
}

static inline void mfr_put_le64(unsigned char *b, uint64_t v)
{
    for (int s = 0; s < 8; s++) b[s] = (unsigned char)(v >> (8 * s));
}

static inline uint32_t mfr_get_le32(const unsigned char *b)
{
    uint32_t v = 0;
    for (int s = 0; s < 4; s++) v |= (uint32_t)b[s] << (8 * s);
    return v;
}

static inline uint64_t mfr_get_le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int s = 0; s < 8; s++) v |= (uint64_t)b[s] << (8 * s);
    return v;
}

static inline uint32_t mfr_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float mfr_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint64_t mfr_f64_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static inline double mfr_bits_f64(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

#endif
