/* agent.dns._fastpath: the DNS hot path in C (optional; agent.dns.wire and agent.lists.index are the reference).
 *
 * Small things, each mirroring a pure-Python original exactly:
 *   parse_query   agent.dns.wire.parse_query, returning its fields as an 11-tuple
 *   Table         a read-only hash index of names (HRNT format, mmap-able) -> set id,
 *                 looked up by label suffix; build_table writes one
 *   recv_batch / send_batch   recvmmsg / sendmmsg on a non-blocking UDP socket (Linux)
 *   replay_batch  a recvmmsg, the answers agent.dns.server.FilterResolver.answer would give
 *                 from its memo (blocked, or cached and fresh; a name never asked blocked
 *                 by the block kept for its list's claim set) made and logged here, one
 *                 sendmmsg; the other datagrams handed back to Python
 *   trim_heap     glibc's malloc_trim(0): freed heap pages back to the system (no ctypes)
 *   short_slice   sched_setattr: the calling thread asks the scheduler for a short slice
 *
 * Every byte read from a packet or a table buffer is bounds-checked against the buffer's length;
 * multi-byte values are read with memcpy, so neither buffer needs any alignment.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#ifdef __linux__
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* ---------------------------------------------------------------- helpers */

static inline uint16_t
be16(const unsigned char *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t
ld16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint32_t
ld32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint64_t
ld64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void
st16(unsigned char *p, uint16_t v)
{
    memcpy(p, &v, sizeof v);
}

static inline void
st32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, sizeof v);
}

static inline void
st64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, sizeof v);
}

/* RFC 4343: only A-Z fold; every other byte is kept as is. */
/* The low 8 * w bits of v in w bytes (1..8), in native byte order: the w bytes of the
 * integer v & mask(w) that are not always zero. */
static inline void
st_low(unsigned char *p, uint64_t v, unsigned w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    memcpy(p, (const unsigned char *)&v + (8 - w), w);
#else
    memcpy(p, &v, w);
#endif
}

static inline uint64_t
ld_low(const unsigned char *p, unsigned w)
{
    uint64_t v = 0;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    memcpy((unsigned char *)&v + (8 - w), p, w);
#else
    memcpy(&v, p, w);
#endif
    return v;
}

static inline unsigned char
ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* Set a tuple slot from a new reference; on NULL the caller drops the (partly filled) tuple. */
static inline int
put(PyObject *tuple, Py_ssize_t i, PyObject *value)
{
    if (value == NULL)
        return -1;
    PyTuple_SET_ITEM(tuple, i, value);
    return 0;
}

/* ---------------------------------------------------------------- parse_query */

#define TYPE_OPT 41
#define EDNS_SIZE 1232

static PyObject *
wire_error(const char *message)
{
    PyErr_SetString(PyExc_ValueError, message);
    return NULL;
}

/* One question as read off the wire: what `parse` returns as a tuple, and what replay_batch
 * reads of a question the memo does not hold. */
typedef struct {
    unsigned qid, flags, qtype, qclass, udp_size, questions;
    int edns, dnssec_ok;
    char name[256]; /* lower-cased, dotted, not terminated */
    Py_ssize_t name_len;
    Py_ssize_t end;     /* where the name ends (its root label read) */
    Py_ssize_t qend;    /* where the question ends */
    Py_ssize_t opt_len; /* of the EDNS OPT record after it, 0 without one */
} Scan;

/* Read p[0:n] as one query, into *s: NULL when it is one well-formed question, else what is
 * wrong with it (s->questions set when that is the count of questions). */
static const char *
scan(const unsigned char *p, Py_ssize_t n, Scan *s)
{
    s->questions = 1;
    if (n < 12)
        return "shorter than a DNS header";
    s->qid = be16(p);
    s->flags = be16(p + 2);
    unsigned qd = be16(p + 4), an = be16(p + 6), ns = be16(p + 8), ar = be16(p + 10);
    if (s->flags & 0x8000)
        return "a response, not a query";
    if (qd != 1) {
        s->questions = qd;
        return "questions";
    }
    if (an || ns)
        return "a query with answer or authority records";

    /* The name, read as agent.dns.wire._read_qname does (same checks in the same order). The
     * total rule caps the text at 253 characters, so `name` cannot overflow. */
    Py_ssize_t name_len = 0, pos = 12;
    unsigned total = 0;
    for (;;) {
        if (pos >= n)
            return "name runs past the end";
        unsigned length = p[pos];
        if (length == 0) {
            pos++;
            break;
        }
        if (length & 0xC0)
            return "compressed or extended label in a question";
        total += length + 1;
        if (total > 254)
            return "name longer than 255 bytes";
        if ((Py_ssize_t)length > n - pos - 1)
            return "label runs past the end";
        if (name_len)
            s->name[name_len++] = '.';
        for (unsigned i = 1; i <= length; i++)
            s->name[name_len++] = (char)ascii_lower(p[pos + i]);
        pos += 1 + (Py_ssize_t)length;
    }
    s->name_len = name_len;
    s->end = pos;
    if (pos + 4 > n)
        return "question is cut short";
    s->qtype = be16(p + pos);
    s->qclass = be16(p + pos + 2);
    Py_ssize_t qend = s->qend = pos + 4;

    s->edns = s->dnssec_ok = 0;
    s->udp_size = 512;
    s->opt_len = 0;
    if (ar) {
        if (ar > 1)
            return "more than one additional record";
        if (qend + 11 > n || p[qend] != 0)
            return "additional record is not an EDNS OPT record";
        unsigned rtype = be16(p + qend + 1), size = be16(p + qend + 3);
        uint32_t ttl = be32(p + qend + 5);
        Py_ssize_t rdlen = be16(p + qend + 9);
        if (rtype != TYPE_OPT || qend + 11 + rdlen > n)
            return "additional record is not a valid EDNS OPT record";
        s->edns = 1;
        s->udp_size = size < 512 ? 512 : (size > EDNS_SIZE ? EDNS_SIZE : size);
        s->dnssec_ok = (ttl & 0x8000) != 0;
        s->opt_len = 11 + rdlen;
    }
    return NULL;
}

static PyObject *
parse(const unsigned char *p, Py_ssize_t n)
{
    Scan s;
    const char *wrong = scan(p, n, &s);
    if (wrong != NULL) {
        if (s.questions != 1)
            return PyErr_Format(PyExc_ValueError, "%u questions (one is expected)", s.questions);
        return wire_error(wrong);
    }
    PyObject *out = PyTuple_New(11);
    if (out == NULL)
        return NULL;
    /* The cache key: the question with its name lower-cased (length bytes are < 64, so
     * lowering the whole name range leaves them alone), then the DO and EDNS flags. */
    PyObject *key = PyBytes_FromStringAndSize(NULL, s.qend - 12 + 2);
    if (put(out, 6, key) < 0)
        goto fail;
    unsigned char *k = (unsigned char *)PyBytes_AS_STRING(key);
    for (Py_ssize_t i = 12; i < s.end; i++)
        *k++ = ascii_lower(p[i]);
    memcpy(k, p + s.end, 4);
    k[4] = (unsigned char)s.dnssec_ok;
    k[5] = (unsigned char)s.edns;
    if (put(out, 0, PyLong_FromLong((long)s.qid)) < 0 ||
        put(out, 1, PyLong_FromLong((long)s.flags)) < 0 ||
        put(out, 2, PyUnicode_DecodeLatin1(s.name, s.name_len, NULL)) < 0 ||
        put(out, 3, PyLong_FromLong((long)s.qtype)) < 0 ||
        put(out, 4, PyLong_FromLong((long)s.qclass)) < 0 ||
        put(out, 5, PyBytes_FromStringAndSize((const char *)p + 12, s.qend - 12)) < 0 ||
        put(out, 7, PyBool_FromLong(s.edns)) < 0 ||
        put(out, 8, PyLong_FromLong((long)s.udp_size)) < 0 ||
        put(out, 9, PyBool_FromLong(s.dnssec_ok)) < 0 ||
        put(out, 10, PyBytes_FromStringAndSize((const char *)p + s.qend, s.opt_len)) < 0)
        goto fail;
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

PyDoc_STRVAR(parse_query_doc,
"parse_query(data) -> (id, flags, name, qtype, qclass, question, key, edns, udp_size, do, opt)\n\n"
"agent.dns.wire.parse_query in C: the fields of wire.Query as a tuple. ValueError for anything\n"
"that is not one well-formed question.");

static PyObject *
fp_parse_query(PyObject *module, PyObject *data)
{
    (void)module;
    if (PyBytes_Check(data))
        return parse((const unsigned char *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data));
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    PyObject *out = parse(view.buf, view.len);
    PyBuffer_Release(&view);
    return out;
}

/* ---------------------------------------------------------------- name hash */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static inline uint64_t
fnv_step(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* splitmix64's finaliser: spreads the FNV state so the top bits pick a bucket evenly. */
static inline uint64_t
mix(uint64_t z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9ULL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return z;
}

/* Bytes are fed from the end, so one right-to-left walk hashes every suffix on the way. */
static uint64_t
name_hash(const unsigned char *s, Py_ssize_t n)
{
    uint64_t h = FNV_OFFSET;
    for (Py_ssize_t i = n - 1; i >= 0; i--)
        h = fnv_step(h, s[i]);
    return mix(h);
}

/* A str's bytes when it is ASCII: 1 and *p, *n set; 0 when it is not ASCII; -1 on error. */
static int
ascii_bytes(PyObject *s, const unsigned char **p, Py_ssize_t *n)
{
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(s) < 0)
        return -1;
#endif
    if (!PyUnicode_IS_ASCII(s))
        return 0;
    *p = PyUnicode_1BYTE_DATA(s);
    *n = PyUnicode_GET_LENGTH(s);
    return 1;
}

/* ---------------------------------------------------------------- table format
 *
 * Native byte order (the index's meta.json records it):
 *   0   "HRNT" 3 0 0 0
 *   8   u32 bits      buckets are the top `bits` bits of a name's hash
 *   12  u32 idw       bytes per set id: 1, 2 or 4, the narrowest that holds the largest id
 *   16  u64 count
 *   24  u32 buckets[(1 << bits) + 1]   entries of bucket b: [buckets[b], buckets[b + 1])
 *       zero padding to 8 bytes
 *       hashes[count], ascending, each its low 8 * hw bits in hw = 8 - bits / 8 bytes: the
 *           bucket holds the top `bits` bits, so every bit of the 64-bit hash is still
 *           compared (a million names: 18 bits, 6 bytes a hash where version 2 stored 8)
 *       ids[count], idw bytes each
 */

static const unsigned char MAGIC[8] = {'H', 'R', 'N', 'T', 3, 0, 0, 0};
#define HEADER_SIZE 24
#define MIN_BITS 4
#define MAX_BITS 24

/* Bytes per stored hash: every bit below the bucket's, whole bytes. */
static unsigned
hash_width(unsigned bits)
{
    return 8 - bits / 8;
}

static size_t
hashes_offset(unsigned bits)
{
    size_t end = HEADER_SIZE + 4 * (((size_t)1 << bits) + 1);
    return (end + 7) & ~(size_t)7;
}

/* ---------------------------------------------------------------- Table */

typedef struct {
    PyObject_HEAD
    Py_buffer view;
    const unsigned char *buckets; /* u32[(1 << bits) + 1] */
    const unsigned char *hashes;  /* [count] low hw bytes of each hash, ascending */
    const unsigned char *ids;     /* u8, u16 or u32 [count], as narrow as the largest id allows */
    uint32_t count;
    unsigned idw; /* bytes per id: 1, 2 or 4 */
    unsigned hw;  /* bytes per stored hash: 8 - bits / 8 */
    unsigned shift; /* 64 - bits */
    uint64_t low;   /* the stored bits of a hash: the low 8 * hw */
} TableObject;

/* The set id of hash h, or -1. Bucket bounds are clamped to count, so even a buffer that
 * changes after validation (a writable exporter) can only give wrong answers, never a read
 * outside the validated arrays. */
static int64_t
table_find(const TableObject *t, uint64_t h)
{
    size_t b = (size_t)(h >> t->shift);
    uint32_t lo = ld32(t->buckets + 4 * b), hi = ld32(t->buckets + 4 * (b + 1));
    if (hi > t->count)
        hi = t->count;
    unsigned hw = t->hw;
    h &= t->low; /* the bucket stands for the rest (its entries share their top bits) */
    for (uint32_t i = lo; i < hi; i++) {
        uint64_t x = ld_low(t->hashes + hw * (size_t)i, hw);
        if (x == h) {
            const unsigned char *id = t->ids + t->idw * (size_t)i;
            return t->idw == 1 ? id[0] : t->idw == 2 ? ld16(id) : ld32(id);
        }
        if (x > h)
            break;
    }
    return -1;
}

static int
table_invalid(const char *message)
{
    PyErr_Format(PyExc_ValueError, "not a valid name table: %s", message);
    return -1;
}

/* Everything memory safety needs: after this, bits, count and the three array pointers
 * describe exactly the buffer, and the buckets are non-decreasing from 0 to count. */
static int
table_check(TableObject *t)
{
    const unsigned char *p = t->view.buf;
    size_t n = (size_t)t->view.len;
    if (n < HEADER_SIZE)
        return table_invalid("shorter than its header");
    if (memcmp(p, MAGIC, sizeof MAGIC) != 0)
        return table_invalid("wrong magic (not HRNT version 3)");
    uint32_t bits = ld32(p + 8);
    if (bits < MIN_BITS || bits > MAX_BITS)
        return table_invalid("bucket bits out of range");
    uint32_t idw = ld32(p + 12);
    if (idw != 1 && idw != 2 && idw != 4)
        return table_invalid("id width is not 1, 2 or 4 bytes");
    uint64_t count = ld64(p + 16);
    size_t hoff = hashes_offset(bits), hw = hash_width(bits);
    if (n < hoff)
        return table_invalid("truncated bucket array");
    if (count > (n - hoff) / (hw + idw) || hoff + (hw + idw) * count != n)
        return table_invalid("size does not match the entry count");
    if (count > UINT32_MAX)
        return table_invalid("too many entries");
    size_t nb = ((size_t)1 << bits) + 1;
    const unsigned char *buckets = p + HEADER_SIZE;
    uint32_t prev = 0;
    if (ld32(buckets) != 0)
        return table_invalid("first bucket does not start at 0");
    for (size_t i = 0; i < nb; i++) {
        uint32_t b = ld32(buckets + 4 * i);
        if (b < prev)
            return table_invalid("bucket offsets decrease");
        prev = b;
    }
    if (prev != count)
        return table_invalid("last bucket does not end at the entry count");
    t->buckets = buckets;
    t->hashes = p + hoff;
    t->ids = p + hoff + hw * count;
    t->count = (uint32_t)count;
    t->idw = idw;
    t->hw = (unsigned)hw;
    t->shift = 64 - bits;
    t->low = hw == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * hw)) - 1;
    return 0;
}

static PyObject *
table_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"buffer", NULL};
    PyObject *source;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O:Table", kwlist, &source))
        return NULL;
    TableObject *t = (TableObject *)type->tp_alloc(type, 0);
    if (t == NULL)
        return NULL;
    /* Held until dealloc: an mmap cannot be closed or resized while we hold it. */
    if (PyObject_GetBuffer(source, &t->view, PyBUF_SIMPLE) < 0 || table_check(t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyObject *)t;
}

static void
table_dealloc(PyObject *self)
{
    TableObject *t = (TableObject *)self;
    if (t->view.obj != NULL)
        PyBuffer_Release(&t->view);
    Py_TYPE(self)->tp_free(self);
}

static Py_ssize_t
table_len(PyObject *self)
{
    return (Py_ssize_t)((TableObject *)self)->count;
}

#define STACK_HITS 256

typedef struct {
    Py_ssize_t length; /* of the matching suffix, in characters */
    uint32_t id;
} Hit;

/* Every label suffix of s[0:n] (a name's bytes, one a character) in the table, shortest
 * first, into found (room for n hits); how many. Table names are ASCII, so the walk stops at
 * the first byte over 127 from the right: no suffix holding it is listed. */
static Py_ssize_t
table_hits(const TableObject *t, const unsigned char *s, Py_ssize_t n, Hit *found)
{
    Py_ssize_t hits = 0, i;
    uint64_t h = FNV_OFFSET;
    for (i = n - 1; i >= 0; i--) {
        unsigned char c = s[i];
        if (c == '.' && i < n - 1) { /* h is now the hash of s[i+1:] */
            int64_t id = table_find(t, mix(h));
            if (id >= 0)
                found[hits++] = (Hit){n - 1 - i, (uint32_t)id};
        }
        if (c > 127)
            break;
        h = fnv_step(h, c);
    }
    if (i < 0 && n > 0) {
        int64_t id = table_find(t, mix(h));
        if (id >= 0)
            found[hits++] = (Hit){n, (uint32_t)id};
    }
    return hits;
}

PyDoc_STRVAR(table_lookup_doc,
"lookup(name) -> ((suffix_length, set_id), ...)\n\n"
"Every label suffix of name (the name itself included) that is in the table, shortest first.\n"
"Table names are ASCII, so only suffixes free of other characters can match: a non-ASCII\n"
"label hides the labels left of it, never the listed names right of it.");

static PyObject *
table_lookup(PyObject *self, PyObject *arg)
{
    const TableObject *t = (const TableObject *)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "lookup() needs a str, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(arg) < 0)
        return NULL;
#endif
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    /* At most one hit per position; names longer than DNS allows get heap room, and a name
     * of wider characters is read as bytes: its ASCII tail, behind one byte over 127 that
     * stands for the character that ends it (the walk stops there, as it would at that one). */
    Hit stack_hits[STACK_HITS], *found = stack_hits;
    unsigned char stack_name[STACK_HITS], *name = stack_name;
    if (n > STACK_HITS) {
        found = PyMem_New(Hit, (size_t)n);
        name = kind == PyUnicode_1BYTE_KIND ? NULL : PyMem_Malloc((size_t)n);
        if (found == NULL || (kind != PyUnicode_1BYTE_KIND && name == NULL)) {
            if (found != stack_hits)
                PyMem_Free(found);
            PyMem_Free(name);
            return PyErr_NoMemory();
        }
    }
    const unsigned char *bytes = data;
    if (kind != PyUnicode_1BYTE_KIND) {
        Py_ssize_t i = n;
        while (i > 0 && PyUnicode_READ(kind, data, i - 1) <= 127) {
            i--;
            name[i] = (unsigned char)PyUnicode_READ(kind, data, i);
        }
        if (i > 0)
            name[--i] = 0x80;
        bytes = name;
    }
    Py_ssize_t hits = table_hits(t, bytes, n, found);
    PyObject *out = PyTuple_New(hits); /* the shared empty tuple when hits == 0 */
    for (Py_ssize_t j = 0; out != NULL && j < hits; j++) {
        PyObject *pair = PyTuple_New(2);
        if (put(out, j, pair) < 0 || put(pair, 0, PyLong_FromSsize_t(found[j].length)) < 0 ||
            put(pair, 1, PyLong_FromUnsignedLong(found[j].id)) < 0)
            Py_CLEAR(out);
    }
    if (found != stack_hits)
        PyMem_Free(found);
    if (name != stack_name)
        PyMem_Free(name);
    return out;
}

PyDoc_STRVAR(table_contains_doc, "contains(name) -> bool: whether name itself is in the table.");

static PyObject *
table_contains(PyObject *self, PyObject *arg)
{
    const TableObject *t = (const TableObject *)self;
    if (!PyUnicode_Check(arg)) {
        PyErr_Format(PyExc_TypeError, "contains() needs a str, not %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const unsigned char *s = NULL;
    Py_ssize_t n = 0;
    int ascii = ascii_bytes(arg, &s, &n);
    if (ascii < 0)
        return NULL;
    if (!ascii || n == 0)
        Py_RETURN_FALSE;
    return PyBool_FromLong(table_find(t, name_hash(s, n)) >= 0);
}

static PyMethodDef table_methods[] = {
    {"lookup", table_lookup, METH_O, table_lookup_doc},
    {"contains", table_contains, METH_O, table_contains_doc},
    {NULL, NULL, 0, NULL},
};

static PyMappingMethods table_as_mapping = {
    .mp_length = table_len,
};

PyDoc_STRVAR(table_doc,
"Table(buffer): a read-only name table (as written by build_table) over any buffer,\n"
"e.g. bytes or an mmap. The buffer is validated, then held until the table is freed.");

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "agent.dns._fastpath.Table",
    .tp_basicsize = sizeof(TableObject),
    .tp_dealloc = table_dealloc,
    .tp_as_mapping = &table_as_mapping,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = table_doc,
    .tp_methods = table_methods,
    .tp_new = table_new,
};

/* ---------------------------------------------------------------- build_table */

typedef struct {
    uint64_t hash;
    uint32_t id;
} Entry;

static int
entry_cmp(const void *a, const void *b)
{
    uint64_t x = ((const Entry *)a)->hash, y = ((const Entry *)b)->hash;
    return (x > y) - (x < y);
}

/* One (name, set_id) pair into *e; -1 with an exception set when it is not acceptable. */
static int
read_pair(PyObject *item, Entry *e)
{
    PyObject *seq = PySequence_Fast(item, "build_table() needs (name, set_id) pairs");
    if (seq == NULL)
        return -1;
    int rc = -1;
    if (PySequence_Fast_GET_SIZE(seq) != 2) {
        PyErr_SetString(PyExc_ValueError, "build_table() needs (name, set_id) pairs");
        goto done;
    }
    PyObject *name = PySequence_Fast_GET_ITEM(seq, 0), *id = PySequence_Fast_GET_ITEM(seq, 1);
    if (!PyUnicode_Check(name) || !PyLong_Check(id)) {
        PyErr_Format(PyExc_TypeError, "build_table() needs (str, int) pairs, not (%.50s, %.50s)",
                     Py_TYPE(name)->tp_name, Py_TYPE(id)->tp_name);
        goto done;
    }
    const unsigned char *s = NULL;
    Py_ssize_t n = 0;
    int ascii = ascii_bytes(name, &s, &n);
    if (ascii < 0)
        goto done;
    if (!ascii) {
        PyErr_Format(PyExc_ValueError, "name %R is not ASCII", name);
        goto done;
    }
    if (n == 0 || s[n - 1] == '.') {
        PyErr_Format(PyExc_ValueError, "name %R is empty or ends with a dot", name);
        goto done;
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(id);
    if ((v == (unsigned long long)-1 && PyErr_Occurred()) || v > UINT32_MAX) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "set id %R of %R is outside 0..2**32-1", id, name);
        goto done;
    }
    e->hash = name_hash(s, n);
    e->id = (uint32_t)v;
    rc = 0;
done:
    Py_DECREF(seq);
    return rc;
}

/* Bits so that buckets hold 2 to 4 entries on average (fewer for small tables). */
static unsigned
choose_bits(size_t count)
{
    unsigned bits = MIN_BITS;
    while (bits < MAX_BITS && ((size_t)1 << (bits + 1)) <= count / 2)
        bits++;
    return bits;
}

/* Sort, check, and write the table into out (already sized). Needs no GIL. */
static int
write_table(Entry *entries, size_t count, unsigned bits, unsigned idw, unsigned char *out)
{
    qsort(entries, count, sizeof *entries, entry_cmp);
    for (size_t i = 1; i < count; i++)
        if (entries[i].hash == entries[i - 1].hash)
            return -1;
    size_t hoff = hashes_offset(bits), nb = ((size_t)1 << bits) + 1, hw = hash_width(bits);
    memcpy(out, MAGIC, sizeof MAGIC);
    st32(out + 8, bits);
    st32(out + 12, idw);
    st64(out + 16, count);
    unsigned shift = 64 - bits;
    size_t j = 0;
    for (size_t b = 0; b < nb; b++) {
        while (j < count && (entries[j].hash >> shift) < b)
            j++;
        st32(out + HEADER_SIZE + 4 * b, (uint32_t)j);
    }
    memset(out + HEADER_SIZE + 4 * nb, 0, hoff - HEADER_SIZE - 4 * nb);
    for (size_t i = 0; i < count; i++) {
        st_low(out + hoff + hw * i, entries[i].hash, (unsigned)hw);
        unsigned char *id = out + hoff + hw * count + idw * i;
        if (idw == 1)
            id[0] = (unsigned char)entries[i].id;
        else if (idw == 2)
            st16(id, (uint16_t)entries[i].id);
        else
            st32(id, entries[i].id);
    }
    return 0;
}

PyDoc_STRVAR(build_table_doc,
"build_table(pairs) -> bytes\n\n"
"A name table from (name, set_id) pairs: name non-empty ASCII without a trailing dot, set_id\n"
"0..2**32-1. ValueError for a bad pair, a name given twice or two names with the same hash.");

#define YIELD_EVERY 16384 /* let other threads (the DNS thread) run during a long build */

static PyObject *
fp_build_table(PyObject *module, PyObject *pairs)
{
    (void)module;
    PyObject *it = PyObject_GetIter(pairs);
    if (it == NULL)
        return NULL;
    Py_ssize_t hint = PyObject_LengthHint(pairs, 1024);
    if (hint < 0) {
        Py_DECREF(it);
        return NULL;
    }
    /* Trust the hint for the first allocation only up to a point, then grow by doubling. */
    size_t cap = hint < 16 ? 16 : (hint > (1 << 24) ? (1 << 24) : (size_t)hint), count = 0;
    Entry *entries = NULL;
    PyObject *item, *out = NULL;
    if (cap > PY_SSIZE_T_MAX / sizeof(Entry) || !(entries = PyMem_RawMalloc(cap * sizeof(Entry)))) {
        PyErr_NoMemory();
        goto done;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        if (count == cap) {
            Entry *bigger = NULL;
            if (cap <= PY_SSIZE_T_MAX / (2 * sizeof(Entry)))
                bigger = PyMem_RawRealloc(entries, 2 * cap * sizeof(Entry));
            if (bigger == NULL) {
                Py_DECREF(item);
                PyErr_NoMemory();
                goto done;
            }
            entries = bigger;
            cap *= 2;
        }
        int rc = read_pair(item, &entries[count]);
        Py_DECREF(item);
        if (rc < 0)
            goto done;
        if (++count % YIELD_EVERY == 0) {
            Py_BEGIN_ALLOW_THREADS
            Py_END_ALLOW_THREADS
        }
    }
    if (PyErr_Occurred())
        goto done;
    if (count > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "too many names for one table");
        goto done;
    }
    if (count > (PY_SSIZE_T_MAX - hashes_offset(MAX_BITS)) / 12) { /* 32-bit platforms */
        PyErr_NoMemory();
        goto done;
    }
    unsigned bits = choose_bits(count);
    uint32_t largest = 0;
    for (size_t i = 0; i < count; i++)
        if (entries[i].id > largest)
            largest = entries[i].id;
    unsigned idw = largest <= 0xFF ? 1 : largest <= 0xFFFF ? 2 : 4;
    size_t size = hashes_offset(bits) + (hash_width(bits) + idw) * count;
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (out == NULL)
        goto done;
    int rc;
    unsigned char *buf = (unsigned char *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    rc = write_table(entries, count, bits, idw, buf);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError,
                        "two entries have the same hash (a name given twice, or a collision)");
    }
done:
    PyMem_RawFree(entries);
    Py_DECREF(it);
    return out;
}

/* ---------------------------------------------------------------- UDP batches */

#define BATCH_MAX 64
#define DATAGRAM_MAX 4096

#ifdef __linux__

typedef struct {
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    struct sockaddr_storage addrs[BATCH_MAX];
    unsigned char data[BATCH_MAX][DATAGRAM_MAX];
} RecvArea;

/* One area serves every call (the GIL is held throughout). It is busy only while results are
 * being built, when a finaliser run by the garbage collector could call recv_batch again:
 * that nested call gets an area of its own. */
static RecvArea recv_area;
static int recv_area_busy;

static PyObject *
client_ip(const struct sockaddr_storage *ss, socklen_t len)
{
    char text[INET6_ADDRSTRLEN];
    const char *ok = NULL;
    if (len >= (socklen_t)sizeof(struct sockaddr_in) && ss->ss_family == AF_INET)
        ok = inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, text, sizeof text);
    else if (len >= (socklen_t)sizeof(struct sockaddr_in6) && ss->ss_family == AF_INET6)
        ok = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, text,
                       sizeof text);
    return PyUnicode_FromString(ok ? text : "");
}

static PyObject *
received(RecvArea *a, int got)
{
    PyObject *out = PyList_New(got);
    if (out == NULL)
        return NULL;
    for (int i = 0; i < got; i++) {
        size_t size = a->msgs[i].msg_len; /* recv_some kept both within the buffers */
        socklen_t alen = a->msgs[i].msg_hdr.msg_namelen;
        PyObject *item = PyTuple_New(3);
        if (item == NULL)
            goto fail;
        PyList_SET_ITEM(out, i, item);
        if (put(item, 0, PyBytes_FromStringAndSize((const char *)a->data[i], (Py_ssize_t)size)) < 0 ||
            put(item, 1, client_ip(&a->addrs[i], alen)) < 0 ||
            put(item, 2, PyBytes_FromStringAndSize((const char *)&a->addrs[i], alen)) < 0)
            goto fail;
    }
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* One non-blocking recvmmsg of up to max datagrams into a: how many came (0 when none
 * waited), or -1 with an error set. */
static int
recv_some(RecvArea *a, int fd, int max)
{
    for (int i = 0; i < max; i++) {
        a->iov[i].iov_base = a->data[i];
        a->iov[i].iov_len = DATAGRAM_MAX;
        memset(&a->msgs[i], 0, sizeof a->msgs[i]);
        a->msgs[i].msg_hdr.msg_name = &a->addrs[i];
        a->msgs[i].msg_hdr.msg_namelen = sizeof a->addrs[i];
        a->msgs[i].msg_hdr.msg_iov = &a->iov[i];
        a->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    for (;;) {
        int got = recvmmsg(fd, a->msgs, (unsigned)max, MSG_DONTWAIT, NULL);
        if (got >= 0) {
            for (int i = 0; i < got; i++) { /* lengths within the buffers, for every reader */
                struct mmsghdr *m = &a->msgs[i];
                if (m->msg_len > DATAGRAM_MAX)
                    m->msg_len = DATAGRAM_MAX;
                if (m->msg_hdr.msg_namelen > (socklen_t)sizeof a->addrs[i])
                    m->msg_hdr.msg_namelen = (socklen_t)sizeof a->addrs[i];
            }
            return got;
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return 0;
        if (err != EINTR) {
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
        if (PyErr_CheckSignals() < 0)
            return -1;
    }
}

static PyObject *
recv_into(RecvArea *a, int fd, int max)
{
    int got = recv_some(a, fd, max);
    return got < 0 ? NULL : received(a, got);
}

#endif /* __linux__ */

#ifndef __linux__
static PyObject *
no_batches(void)
{
    errno = ENOSYS;
    return PyErr_SetFromErrno(PyExc_OSError);
}
#endif

/* How many datagrams a batch call may take: `asked`, at most BATCH_MAX; -1 (ValueError set)
 * when it is below 1. */
static int
batch_size(long asked)
{
    if (asked < 1) {
        PyErr_SetString(PyExc_ValueError, "max must be at least 1");
        return -1;
    }
    return asked > BATCH_MAX ? BATCH_MAX : (int)asked;
}

PyDoc_STRVAR(recv_batch_doc,
"recv_batch(fd, max=32) -> [(payload, client_ip, sockaddr), ...]\n\n"
"Up to max (at most 64) waiting datagrams from one non-blocking recvmmsg; [] when none wait.\n"
"Payloads are cut to 4096 bytes; sockaddr is the raw address to pass back to send_batch.");

static PyObject *
fp_recv_batch(PyObject *module, PyObject *args, PyObject *kwargs)
{
    (void)module;
    static char *kwlist[] = {"fd", "max", NULL};
    int fd;
    long asked = 32;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "i|l:recv_batch", kwlist, &fd, &asked))
        return NULL;
    int max = batch_size(asked);
    if (max < 0)
        return NULL;
#ifdef __linux__
    if (!recv_area_busy) {
        recv_area_busy = 1;
        PyObject *out = recv_into(&recv_area, fd, max);
        recv_area_busy = 0;
        return out;
    }
    RecvArea *own = PyMem_RawMalloc(sizeof *own);
    if (own == NULL)
        return PyErr_NoMemory();
    PyObject *out = recv_into(own, fd, max);
    PyMem_RawFree(own);
    return out;
#else
    (void)fd;
    return no_batches();
#endif
}

#ifdef __linux__

/* A send error that concerns one destination (or one datagram), not the socket. */
static int
skippable(int err)
{
    switch (err) {
    case EPERM: case EACCES: case EINVAL: case EAFNOSUPPORT: case EADDRNOTAVAIL:
    case ENETUNREACH: case EHOSTUNREACH: case ENETDOWN: case EHOSTDOWN: case EMSGSIZE:
    case ECONNREFUSED: case ENOBUFS: case ENOMEM:
        return 1;
    default:
        return 0;
    }
}

static int send_msgs(int fd, struct mmsghdr *msgs, unsigned n, Py_ssize_t *sent);

/* Send items[start:start+n] (n <= BATCH_MAX); add what was sent to *sent. 1 when the socket
 * would block, -1 on an error (set), 0 otherwise. */
static int
send_chunk(int fd, PyObject *items, Py_ssize_t start, unsigned n, Py_ssize_t *sent)
{
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    memset(msgs, 0, sizeof msgs);
    for (unsigned i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(items, start + (Py_ssize_t)i);
        PyObject *payload = PyTuple_GET_ITEM(item, 0), *addr = PyTuple_GET_ITEM(item, 1);
        iov[i].iov_base = PyBytes_AS_STRING(payload);
        iov[i].iov_len = (size_t)PyBytes_GET_SIZE(payload);
        msgs[i].msg_hdr.msg_name = PyBytes_AS_STRING(addr);
        msgs[i].msg_hdr.msg_namelen = (socklen_t)PyBytes_GET_SIZE(addr);
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    return send_msgs(fd, msgs, n, sent);
}

/* sendmmsg msgs[0:n] until all went or the socket would block; add what was sent to *sent.
 * 1 when the socket would block, -1 on an error (set), 0 otherwise. */
static int
send_msgs(int fd, struct mmsghdr *msgs, unsigned n, Py_ssize_t *sent)
{
    unsigned i = 0;
    while (i < n) {
        int done = sendmmsg(fd, msgs + i, n - i, MSG_DONTWAIT);
        if (done > 0) {
            i += (unsigned)done;
            *sent += done;
            continue;
        }
        int err = done == 0 ? EAGAIN : errno;
        if (err == EAGAIN || err == EWOULDBLOCK)
            return 1;
        if (err == EINTR) {
            if (PyErr_CheckSignals() < 0)
                return -1;
        } else if (skippable(err)) {
            i++; /* the kernel stopped at this datagram: drop it, send the rest */
        } else {
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            return -1;
        }
    }
    return 0;
}

/* Check every item before anything is sent: (bytes, bytes) with an IPv4 or IPv6 sockaddr. */
static int
check_items(PyObject *items)
{
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2 ||
            !PyBytes_Check(PyTuple_GET_ITEM(item, 0)) || !PyBytes_Check(PyTuple_GET_ITEM(item, 1))) {
            PyErr_SetString(PyExc_TypeError, "send_batch() needs (payload, sockaddr) bytes tuples");
            return -1;
        }
        PyObject *addr = PyTuple_GET_ITEM(item, 1);
        Py_ssize_t len = PyBytes_GET_SIZE(addr);
        sa_family_t family = 0;
        if (len >= (Py_ssize_t)sizeof(struct sockaddr_in))
            memcpy(&family, PyBytes_AS_STRING(addr) + offsetof(struct sockaddr, sa_family),
                   sizeof family);
        if (!((len == (Py_ssize_t)sizeof(struct sockaddr_in) && family == AF_INET) ||
              (len == (Py_ssize_t)sizeof(struct sockaddr_in6) && family == AF_INET6))) {
            PyErr_Format(PyExc_ValueError,
                         "item %zd: not an IPv4 or IPv6 socket address (%zd bytes)", i, len);
            return -1;
        }
    }
    return 0;
}

#endif /* __linux__ */

PyDoc_STRVAR(send_batch_doc,
"send_batch(fd, items) -> int\n\n"
"Send (payload, sockaddr) datagrams with non-blocking sendmmsg, 64 at a time. Returns how\n"
"many went out: stops when the socket would block; a datagram the kernel refuses for its\n"
"destination (unreachable, not permitted, ...) is skipped. OSError for socket errors.");

static PyObject *
fp_send_batch(PyObject *module, PyObject *args)
{
    (void)module;
    int fd;
    PyObject *arg;
    if (!PyArg_ParseTuple(args, "iO:send_batch", &fd, &arg))
        return NULL;
#ifdef __linux__
    /* Our own tuple of tuples: nothing (not even a signal handler run on EINTR) can free a
     * payload or address whose bytes the kernel is reading. */
    PyObject *items = PySequence_Tuple(arg);
    if (items == NULL)
        return NULL;
    Py_ssize_t sent = 0, n = PyTuple_GET_SIZE(items);
    PyObject *out = NULL;
    if (check_items(items) < 0)
        goto done;
    for (Py_ssize_t start = 0; start < n; start += BATCH_MAX) {
        unsigned chunk = (unsigned)(n - start < BATCH_MAX ? n - start : BATCH_MAX);
        int rc = send_chunk(fd, items, start, chunk, &sent);
        if (rc < 0)
            goto done;
        if (rc > 0)
            break;
    }
    out = PyLong_FromSsize_t(sent);
done:
    Py_DECREF(items);
    return out;
#else
    (void)fd;
    (void)arg;
    return no_batches();
#endif
}

/* ---------------------------------------------------------------- replay_batch */

/* Names of the prepared question's fields (agent.dns.server._Prepared), interned at import. */
static PyObject *s_block_tail, *s_kind, *s_head, *s_expires, *s_tail, *s_fits, *s_aging;

#ifdef __linux__

#define REPLY_ARENA 65536

typedef struct {
    RecvArea in;
    struct mmsghdr msgs[BATCH_MAX];
    struct iovec iov[BATCH_MAX];
    unsigned char replies[REPLY_ARENA];
} ReplayArea;

/* As with recv_area: one area for every call, another of its own for a call made while it is
 * busy (a finaliser run during `submit` or `allow`). */
static ReplayArea replay_area;
static int replay_area_busy;

/* What the memo says for one packet, as agent.dns.server.FilterResolver.answer reads it. */
typedef struct {
    PyObject *tail;  /* the reply after its ID (bytes), or NULL: Python answers it */
    PyObject *head;  /* the query log's columns for it */
    PyObject *kind;  /* blocked: the rule kind to count; NULL for a cached answer */
} Known;

static void
known_clear(Known *k)
{
    Py_CLEAR(k->tail);
    Py_CLEAR(k->head);
    Py_CLEAR(k->kind);
}

/* A prepared question's cached tail whose TTLs have aged a second since it was made: made
 * again here from its `aging` (agent.dns.server._aging: stored and expires of the cache entry
 * as doubles, the cap as an int32 (-1: none), then a u16 offset into the tail and a u32 TTL as
 * stored for each record, all native order), as FilterResolver.answer would load it from the
 * cache: each TTL its stored value less the entry's whole seconds of age (not below 0), no
 * more than the cap; `tail` and `expires` set on the entry. 1 when done; 0 when Python must
 * load it (no aging, the cache entry has expired, or an aging that does not fit the tail). */
static int
age_tail(PyObject *entry, double mono)
{
    PyObject *aging = PyObject_GetAttr(entry, s_aging);
    if (aging == NULL)
        return 0;
    int done = 0;
    PyObject *tail = NULL, *aged = NULL, *until = NULL;
    Py_ssize_t n = PyBytes_Check(aging) ? PyBytes_GET_SIZE(aging) : -1;
    if (n < 20 || (n - 20) % 6 != 0)
        goto out;
    const unsigned char *a = (const unsigned char *)PyBytes_AS_STRING(aging);
    double stored, limit;
    int32_t cap;
    memcpy(&stored, a, sizeof stored);
    memcpy(&limit, a + 8, sizeof limit);
    memcpy(&cap, a + 16, sizeof cap);
    if (!(mono < limit) || !(mono - stored < 4294967296.0))
        goto out; /* expired in the cache (or NaN): Python loads it, and asks upstream */
    double since = mono - stored;
    uint32_t age = since > 0 ? (uint32_t)since : 0;
    tail = PyObject_GetAttr(entry, s_tail);
    if (tail == NULL || !PyBytes_CheckExact(tail))
        goto out;
    Py_ssize_t len = PyBytes_GET_SIZE(tail);
    aged = PyBytes_FromStringAndSize(PyBytes_AS_STRING(tail), len);
    if (aged == NULL)
        goto out;
    unsigned char *t = (unsigned char *)PyBytes_AS_STRING(aged);
    for (Py_ssize_t i = 20; i < n; i += 6) {
        uint16_t at;
        uint32_t ttl;
        memcpy(&at, a + i, sizeof at);
        memcpy(&ttl, a + i + 2, sizeof ttl);
        if ((Py_ssize_t)at + 4 > len)
            goto out;
        ttl = ttl > age ? ttl - age : 0;
        if (cap >= 0 && ttl > (uint32_t)cap)
            ttl = (uint32_t)cap;
        t[at] = (unsigned char)(ttl >> 24); /* network order */
        t[at + 1] = (unsigned char)(ttl >> 16);
        t[at + 2] = (unsigned char)(ttl >> 8);
        t[at + 3] = (unsigned char)ttl;
    }
    double next = stored + (double)age + 1;
    until = PyFloat_FromDouble(next < limit ? next : limit);
    if (until == NULL || PyObject_SetAttr(entry, s_tail, aged) < 0 ||
        PyObject_SetAttr(entry, s_expires, until) < 0)
        goto out;
    done = 1;
out:
    Py_XDECREF(until);
    Py_XDECREF(aged);
    Py_XDECREF(tail);
    Py_DECREF(aging);
    return done;
}

/* Fill *k from a memo entry; 0 when Python must answer (or on an error, set). A blocked
 * question is a 3-tuple (tail, head, kind); a prepared one answers from the memo when it is
 * blocked, or while its cached tail is fresh (mono < expires, or made fresh by age_tail) and
 * fits in UDP. */
static int
known_from(PyObject *entry, PyObject *prepared, double mono, Known *k)
{
    if (PyTuple_CheckExact(entry)) {
        if (PyTuple_GET_SIZE(entry) != 3 || !PyBytes_CheckExact(PyTuple_GET_ITEM(entry, 0)))
            return 0;
        k->tail = Py_NewRef(PyTuple_GET_ITEM(entry, 0));
        k->head = Py_NewRef(PyTuple_GET_ITEM(entry, 1));
        k->kind = Py_NewRef(PyTuple_GET_ITEM(entry, 2));
        return 1;
    }
    if (Py_TYPE(entry) != (PyTypeObject *)prepared)
        return 0;
    PyObject *blocked = PyObject_GetAttr(entry, s_block_tail);
    if (blocked == NULL)
        return 0;
    if (PyBytes_CheckExact(blocked) && PyBytes_GET_SIZE(blocked) > 0) {
        k->tail = blocked;
        k->head = PyObject_GetAttr(entry, s_head);
        k->kind = k->head ? PyObject_GetAttr(entry, s_kind) : NULL;
        return k->kind != NULL;
    }
    Py_DECREF(blocked);
    PyObject *expires = PyObject_GetAttr(entry, s_expires);
    if (expires == NULL)
        return 0;
    double until = PyFloat_AsDouble(expires);
    Py_DECREF(expires);
    if (until == -1.0 && PyErr_Occurred())
        return 0;
    if (!(mono < until) && !age_tail(entry, mono))
        return 0; /* the cached TTLs have aged, and only Python can load them again */
    PyObject *fits = PyObject_GetAttr(entry, s_fits);
    if (fits == NULL)
        return 0;
    int ok = PyObject_IsTrue(fits);
    Py_DECREF(fits);
    if (ok <= 0)
        return 0; /* too big for this client over UDP: Python truncates it */
    k->tail = PyObject_GetAttr(entry, s_tail);
    if (k->tail == NULL || !PyBytes_CheckExact(k->tail))
        return 0;
    k->head = PyObject_GetAttr(entry, s_head);
    return k->head != NULL;
}

/* Count one blocked answer by its rule kind in the `blocked` dict. */
static int
count_blocked(PyObject *blocked, PyObject *kind)
{
    PyObject *was = PyDict_GetItemWithError(blocked, kind);
    if (was == NULL && PyErr_Occurred())
        return -1;
    long long count = 0;
    if (was != NULL) {
        count = PyLong_AsLongLong(was);
        if (count == -1 && PyErr_Occurred())
            return -1;
    }
    PyObject *now = PyLong_FromLongLong(count + 1);
    if (now == NULL)
        return -1;
    int rc = PyDict_SetItem(blocked, kind, now);
    Py_DECREF(now);
    return rc;
}

/* The query log's row for an answer from the memo: (ts, head, None, None, from_cache). */
static int
log_row(PyObject *submit, PyObject *ts, PyObject *head, int cached)
{
    PyObject *row = PyTuple_Pack(5, ts, head, Py_None, Py_None, cached ? Py_True : Py_False);
    if (row == NULL)
        return -1;
    PyObject *r = PyObject_CallOneArg(submit, row);
    Py_DECREF(row);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

typedef struct {
    PyObject *memo, *prepared, *ts, *submit, *blocked, *allow, *exempt, *now;
    PyObject *classes; /* (special, index, box name) or None: see known_by_class */
    double mono;
} Replay;

/* A question the memo does not hold by name, answered from the memo's entry for its class:
 * (client, set id, shape) -> (reply header after the ID, what follows the question, the
 * log's first three columns, its columns after the name, the rule kind). The rules engine
 * decides every name alike that no rule names (none of its suffixes in `special`) and that
 * has one listed suffix in `index`, of one claim set id (agent.rules.decide.name_classes);
 * the server keeps a block it made for one such name under its class
 * (agent.dns.server.FilterResolver._prepare), and the reply depends on the question's name
 * only through the question itself. Fills *k and returns 1, or 0 when Python must answer. */
static int
known_by_class(Replay *r, const unsigned char *data, Py_ssize_t size, PyObject *client, Known *k)
{
    Scan s;
    if (scan(data, size, &s) != NULL || (s.flags & 0x7800))
        return 0; /* malformed, or not a QUERY: Python says so */
    const TableObject *special = (const TableObject *)PyTuple_GET_ITEM(r->classes, 0);
    const TableObject *index = (const TableObject *)PyTuple_GET_ITEM(r->classes, 1);
    PyObject *box = PyTuple_GET_ITEM(r->classes, 2);
    const unsigned char *name = (const unsigned char *)s.name;
    if (s.name_len == PyBytes_GET_SIZE(box) && memcmp(name, PyBytes_AS_STRING(box), (size_t)s.name_len) == 0)
        return 0; /* the box's own name (agent.dns.boxinfo) */
    Hit found[STACK_HITS]; /* a question's name is at most 253 characters */
    if (table_hits(special, name, s.name_len, found) > 0 ||
        table_hits(index, name, s.name_len, found) != 1)
        return 0;
    unsigned shape = s.qtype << 3 | (s.flags & 0x0100 ? 4u : 0u) | (unsigned)s.edns << 1 |
                     (unsigned)s.dnssec_ok;
    PyObject *key = Py_BuildValue("(OkI)", client, (unsigned long)found[0].id, shape);
    if (key == NULL)
        return 0;
    PyObject *value = PyDict_GetItemWithError(r->memo, key);
    Py_DECREF(key);
    if (value == NULL || !PyTuple_CheckExact(value) || PyTuple_GET_SIZE(value) != 5)
        return 0;
    Py_INCREF(value); /* held while objects are made (a collection could run Python code) */
    PyObject *head = PyTuple_GET_ITEM(value, 0), *after = PyTuple_GET_ITEM(value, 1);
    PyObject *front = PyTuple_GET_ITEM(value, 2), *back = PyTuple_GET_ITEM(value, 3);
    int ok = 0;
    if (!PyBytes_CheckExact(head) || PyBytes_GET_SIZE(head) != 10 || !PyBytes_CheckExact(after) ||
        !PyTuple_CheckExact(front) || PyTuple_GET_SIZE(front) != 3 || !PyTuple_CheckExact(back))
        goto done;
    Py_ssize_t question = s.qend - 12, rest = PyBytes_GET_SIZE(after);
    k->tail = PyBytes_FromStringAndSize(NULL, 10 + question + rest);
    if (k->tail == NULL)
        goto done;
    char *tail = PyBytes_AS_STRING(k->tail);
    memcpy(tail, PyBytes_AS_STRING(head), 10);
    memcpy(tail + 10, data + 12, (size_t)question);
    memcpy(tail + 10 + question, PyBytes_AS_STRING(after), (size_t)rest);
    Py_ssize_t columns = PyTuple_GET_SIZE(back);
    k->head = PyTuple_New(4 + columns);
    if (k->head == NULL || put(k->head, 3, PyUnicode_DecodeLatin1(s.name, s.name_len, NULL)) < 0)
        goto done;
    for (Py_ssize_t i = 0; i < 3; i++)
        PyTuple_SET_ITEM(k->head, i, Py_NewRef(PyTuple_GET_ITEM(front, i)));
    for (Py_ssize_t i = 0; i < columns; i++)
        PyTuple_SET_ITEM(k->head, 4 + i, Py_NewRef(PyTuple_GET_ITEM(back, i)));
    k->kind = Py_NewRef(PyTuple_GET_ITEM(value, 4));
    ok = 1;
done:
    Py_DECREF(value);
    return ok;
}

/* One received datagram: answered into a->replies (1), or left for Python (0, with *ok
 * saying whether the rate limit let it through); -1 on an error (set), when Python answers
 * it too. */
static int
replay_one(Replay *r, ReplayArea *a, int i, Py_ssize_t *used, unsigned *n_out,
           PyObject *client, Py_ssize_t size, int *ok, Py_ssize_t *cached)
{
    const unsigned char *data = a->in.data[i];
    *ok = 1;
    if (r->allow != Py_None) {
        int exempt = PySet_Contains(r->exempt, client);
        if (exempt < 0)
            return -1;
        if (!exempt) {
            PyObject *res = PyObject_CallFunctionObjArgs(r->allow, client, r->now, NULL);
            if (res == NULL)
                return -1;
            *ok = PyObject_IsTrue(res);
            Py_DECREF(res);
            if (*ok < 0)
                return -1;
            if (!*ok)
                return 0;
        }
    }
    if (size < 12)
        return 0; /* not even a header: Python says so */
    PyObject *packet = PyBytes_FromStringAndSize((const char *)data + 2, size - 2);
    if (packet == NULL)
        return -1;
    PyObject *key = PyTuple_Pack(2, client, packet);
    Py_DECREF(packet);
    if (key == NULL)
        return -1;
    PyObject *entry = PyDict_GetItemWithError(r->memo, key);
    Py_DECREF(key);
    Known k = {NULL, NULL, NULL};
    int found;
    if (entry != NULL) {
        Py_INCREF(entry);
        found = known_from(entry, r->prepared, r->mono, &k);
        Py_DECREF(entry);
    } else if (PyErr_Occurred()) {
        return -1;
    } else {
        found = r->classes != Py_None && known_by_class(r, data, size, client, &k);
    }
    if (!found) {
        known_clear(&k);
        PyErr_Clear(); /* whatever went wrong, Python's answer meets it again and says so */
        return 0;
    }
    Py_ssize_t len = PyBytes_GET_SIZE(k.tail);
    if (len + 2 > DATAGRAM_MAX || *used + len + 2 > REPLY_ARENA) {
        known_clear(&k);
        return 0;
    }
    if (log_row(r->submit, r->ts, k.head, k.kind == NULL) < 0 ||
        (k.kind != NULL && count_blocked(r->blocked, k.kind) < 0)) {
        known_clear(&k);
        PyErr_Clear(); /* Python answers it, meeting (and logging) the same error */
        return 0;
    }
    if (k.kind == NULL)
        (*cached)++;
    unsigned char *out = a->replies + *used;
    out[0] = data[0];
    out[1] = data[1];
    memcpy(out + 2, PyBytes_AS_STRING(k.tail), (size_t)len);
    known_clear(&k);
    unsigned j = (*n_out)++;
    a->iov[j].iov_base = out;
    a->iov[j].iov_len = (size_t)len + 2;
    memset(&a->msgs[j], 0, sizeof a->msgs[j]);
    a->msgs[j].msg_hdr.msg_name = &a->in.addrs[i];
    a->msgs[j].msg_hdr.msg_namelen = a->in.msgs[i].msg_hdr.msg_namelen;
    a->msgs[j].msg_hdr.msg_iov = &a->iov[j];
    a->msgs[j].msg_hdr.msg_iovlen = 1;
    *used += len + 2;
    return 1;
}

static PyObject *
replay_into(Replay *r, ReplayArea *a, int fd, int max)
{
    RecvArea *in = &a->in;
    int got = recv_some(in, fd, max);
    if (got < 0)
        return NULL;
    PyObject *rest = PyList_New(0);
    if (rest == NULL)
        return NULL;
    Py_ssize_t used = 0, cached = 0, sent = 0;
    unsigned n_out = 0;
    for (int i = 0; i < got; i++) {
        Py_ssize_t size = (Py_ssize_t)in->msgs[i].msg_len; /* within the buffers (recv_some) */
        socklen_t alen = in->msgs[i].msg_hdr.msg_namelen;
        PyObject *client = client_ip(&in->addrs[i], alen);
        if (client == NULL)
            goto fail;
        int ok = 1;
        int done = replay_one(r, a, i, &used, &n_out, client, size, &ok, &cached);
        if (done < 0) {
            PyErr_Clear(); /* Python answers it, meeting (and logging) the same error */
            done = 0;
            ok = 1;
        }
        if (done == 0) {
            PyObject *item = Py_BuildValue("(y#Ny#O)", (const char *)in->data[i], size, client,
                                           (const char *)&in->addrs[i], (Py_ssize_t)alen,
                                           ok ? Py_True : Py_False);
            if (item == NULL)
                goto fail;
            int rc = PyList_Append(rest, item);
            Py_DECREF(item);
            if (rc < 0)
                goto fail;
        } else {
            Py_DECREF(client);
        }
    }
    if (n_out > 0 && send_msgs(fd, a->msgs, n_out, &sent) < 0)
        PyErr_Clear(); /* the socket failed: counted as unsent, as send_batch's callers do */
    return Py_BuildValue("(iNnn)", got, rest, cached, (Py_ssize_t)n_out - sent);
fail:
    /* out of memory: what was answered (and logged) still goes; the error stays the one set */
    if (n_out > 0) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (send_msgs(fd, a->msgs, n_out, &sent) < 0)
            PyErr_Clear();
        PyErr_Restore(type, value, tb);
    }
    Py_DECREF(rest);
    return NULL;
}

#endif /* __linux__ */

PyDoc_STRVAR(replay_batch_doc,
"replay_batch(fd, max, memo, prepared, ts, mono, submit, blocked, allow, exempt, now,\n"
"             classes)\n"
"    -> (received, rest, cached, unsent)\n\n"
"Receive up to max (at most 64) datagrams with one recvmmsg and answer, with one sendmmsg,\n"
"those agent.dns.server.FilterResolver.answer would answer from its memo without asking\n"
"anything: memo[(client_ip, payload[2:])] is a blocked 3-tuple (tail, head, kind), or an\n"
"instance of `prepared` that is blocked or whose cached tail is fresh (mono < expires) and\n"
"fits. Each such answer is the client's ID and the tail, logs (ts, head, None, None, cached)\n"
"through submit(row) and counts a block in blocked[kind]. allow(client, now) is asked first\n"
"for every client not in exempt (allow None: no limit). With classes (special, index,\n"
"box_name), two Tables and bytes, a question the memo does not hold by name is blocked by\n"
"memo[(client_ip, set_id, shape)] = (header, after, front, back, kind) when its name is not\n"
"box_name, has no suffix in special and exactly one in index (of that set id): the reply is\n"
"the ID, header, question and after; the row's head is front + (name,) + back; shape is\n"
"qtype << 3 | RD << 2 | EDNS << 1 | DO. rest lists the others as\n"
"(payload, client_ip, sockaddr, allowed) for Python to answer (allowed False: refuse it);\n"
"cached counts the cached answers sent, unsent the answers the socket would not take.");

static PyObject *
fp_replay_batch(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 12) {
        PyErr_SetString(PyExc_TypeError, "replay_batch() takes 12 arguments");
        return NULL;
    }
    long fd = PyLong_AsLong(args[0]);
    if (fd == -1 && PyErr_Occurred())
        return NULL;
    if (fd < INT_MIN || fd > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "fd out of range");
        return NULL;
    }
    long asked = PyLong_AsLong(args[1]);
    if (asked == -1 && PyErr_Occurred())
        return NULL;
    int max = batch_size(asked);
    if (max < 0)
        return NULL;
    Replay r = {args[2], args[3], args[4], args[6], args[7], args[8], args[9], args[10],
                args[11], 0.0};
    if (!PyDict_Check(r.memo) || !PyDict_Check(r.blocked) || !PyType_Check(r.prepared) ||
        !PyAnySet_Check(r.exempt)) {
        PyErr_SetString(PyExc_TypeError,
                        "replay_batch() needs memo and blocked dicts, a type and a set");
        return NULL;
    }
    if (r.classes != Py_None &&
        (!PyTuple_CheckExact(r.classes) || PyTuple_GET_SIZE(r.classes) != 3 ||
         !Py_IS_TYPE(PyTuple_GET_ITEM(r.classes, 0), &TableType) ||
         !Py_IS_TYPE(PyTuple_GET_ITEM(r.classes, 1), &TableType) ||
         !PyBytes_CheckExact(PyTuple_GET_ITEM(r.classes, 2)))) {
        PyErr_SetString(PyExc_TypeError,
                        "replay_batch() needs classes as None or (Table, Table, bytes)");
        return NULL;
    }
    r.mono = PyFloat_AsDouble(args[5]);
    if (r.mono == -1.0 && PyErr_Occurred())
        return NULL;
#ifdef __linux__
    /* the memo, the dicts and the tables stay alive while Python code runs (submit, allow) */
    Py_INCREF(r.memo);
    Py_INCREF(r.blocked);
    Py_INCREF(r.classes);
    PyObject *out;
    if (!replay_area_busy) {
        replay_area_busy = 1;
        out = replay_into(&r, &replay_area, (int)fd, max);
        replay_area_busy = 0;
    } else {
        ReplayArea *own = PyMem_RawMalloc(sizeof *own);
        out = own ? replay_into(&r, own, (int)fd, max) : PyErr_NoMemory();
        PyMem_RawFree(own);
    }
    Py_DECREF(r.memo);
    Py_DECREF(r.blocked);
    Py_DECREF(r.classes);
    return out;
#else
    (void)fd;
    (void)max;
    return no_batches();
#endif
}

/* ---------------------------------------------------------------- trim_heap */

PyDoc_STRVAR(trim_heap_doc,
"trim_heap() -> bool\n\n"
"Give the pages glibc's malloc holds free (inside its heap and at its top) back to the\n"
"system: malloc_trim(0). True if any were given back; always False without glibc.\n"
"Python's lock is released meanwhile (malloc's own lock is held: other threads' mallocs\n"
"wait), so call it off the hot path.");

static PyObject *
fp_trim_heap(PyObject *self, PyObject *noargs)
{
    (void)self;
    (void)noargs;
    int released = 0;
#ifdef __GLIBC__
    Py_BEGIN_ALLOW_THREADS
    released = malloc_trim(0);
    Py_END_ALLOW_THREADS
#endif
    return PyBool_FromLong(released);
}

/* ---------------------------------------------------------------- short_slice */

PyDoc_STRVAR(short_slice_doc,
"short_slice(ns) -> int\n\n"
"Ask Linux's scheduler (EEVDF, 6.12 and newer) for slices of ns nanoseconds for the calling\n"
"thread, keeping its policy and nice value: a thread that wakes with a shorter slice than the\n"
"running one's may preempt it at once, where otherwise it waits for that slice to end. The\n"
"slice the kernel then reports, or 0 where it keeps none (older kernels, other policies, not\n"
"Linux). The kernel clamps ns to 0.1-100 ms.");

#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
typedef struct {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period; /* runtime: the slice, for SCHED_OTHER */
} SchedAttr;
#endif

static PyObject *
fp_short_slice(PyObject *self, PyObject *arg)
{
    (void)self;
    unsigned long long ns = PyLong_AsUnsignedLongLong(arg);
    if (ns == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
    SchedAttr attr;
    memset(&attr, 0, sizeof attr);
    if (syscall(SYS_sched_getattr, 0, &attr, (unsigned)sizeof attr, 0) != 0 ||
        attr.policy != 0 /* SCHED_OTHER */)
        return PyLong_FromLong(0);
    attr.size = sizeof attr;
    attr.flags = 0;
    attr.runtime = ns;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        return PyLong_FromLong(0);
    memset(&attr, 0, sizeof attr);
    if (syscall(SYS_sched_getattr, 0, &attr, (unsigned)sizeof attr, 0) != 0)
        return PyLong_FromLong(0);
    return PyLong_FromUnsignedLongLong(attr.policy == 0 ? attr.runtime : 0);
#else
    (void)ns;
    return PyLong_FromLong(0);
#endif
}

/* ---------------------------------------------------------------- module */

static PyMethodDef module_methods[] = {
    {"parse_query", fp_parse_query, METH_O, parse_query_doc},
    {"build_table", fp_build_table, METH_O, build_table_doc},
    {"recv_batch", (PyCFunction)(void (*)(void))fp_recv_batch, METH_VARARGS | METH_KEYWORDS,
     recv_batch_doc},
    {"send_batch", fp_send_batch, METH_VARARGS, send_batch_doc},
    {"replay_batch", (PyCFunction)(void (*)(void))fp_replay_batch, METH_FASTCALL,
     replay_batch_doc},
    {"trim_heap", fp_trim_heap, METH_NOARGS, trim_heap_doc},
    {"short_slice", fp_short_slice, METH_O, short_slice_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "agent.dns._fastpath",
    .m_doc = "The DNS hot path in C: query parsing, the name table, batched UDP I/O.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC
PyInit__fastpath(void)
{
    if (PyType_Ready(&TableType) < 0)
        return NULL;
    struct { PyObject **slot; const char *name; } names[] = {
        {&s_block_tail, "block_tail"}, {&s_kind, "kind"}, {&s_head, "head"},
        {&s_expires, "expires"}, {&s_tail, "tail"}, {&s_fits, "fits"}, {&s_aging, "aging"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (*names[i].slot == NULL &&
            (*names[i].slot = PyUnicode_InternFromString(names[i].name)) == NULL)
            return NULL;
    }
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
