/* agent.lists._scan: the plain lines of a blocklist file, found in C (optional).
 *
 * agent.lists.parse is the reference: `parse_lines` reads a list line by line, takes the
 * lines its `_FAST_LINE` pattern matches in one step, and hands every other line to its
 * parser. A big list is nearly all such plain lines ("0.0.0.0 ads.example.com"), so here
 * they are taken in C, straight into the parser's dict of names, with no Python work per line:
 *
 *   take(data, pos, fmt, kept) -> (pos, plain, duplicates, other)
 *
 * `data` is a piece of a list file (bytes, whole lines; the byte-order mark already gone);
 * `fmt` is 0 (hosts), 1 (domains) or 2 (adblock). Lines end at "\n", "\r\n" or a lone "\r",
 * as Python's text files read them. From `pos` on, the name of each plain line goes into the
 * dict `kept` (first seen first, as the parser keeps them), up to the first other line, which
 * comes back decoded from UTF-8 with U+FFFD for broken bytes, as the text file would give it,
 * for the Python parser to read; then the caller calls again from the returned `pos`.
 *
 * A plain line here is always one the reference takes in one step with the same name; the
 * reverse need not hold: anything unusual (upper case, other whitespace, a non-ASCII byte, a
 * name the reference would not take in one step) is left to the Python parser, which gives the
 * same result for it as it always did.
 *
 *   reversed_key(name) -> str: name[::-1] + "." ("example.com" -> "moc.elpmaxe."), as the
 *                             index's trie keys names, without a Python frame per name.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#define MAX_NAME 253
#define MAX_LABEL 63

/* The names `parse.LOCALHOST_NAMES` holds that a plain line could carry; such a line goes to
 * the Python parser, which counts it as a localhost entry. */
static const char *const LOCALHOST[] = {
    "localhost",     "localhost.localdomain", "localdomain",    "local",
    "broadcasthost", "ip6-localhost",         "ip6-loopback",   "ip6-localnet",
    "ip6-mcastprefix", "ip6-allnodes",        "ip6-allrouters", "ip6-allhosts",
};

static inline int
name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static inline int
blank(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static int
localhost(const unsigned char *s, Py_ssize_t n)
{
    for (size_t i = 0; i < sizeof LOCALHOST / sizeof LOCALHOST[0]; i++)
        if (strlen(LOCALHOST[i]) == (size_t)n && memcmp(LOCALHOST[i], s, (size_t)n) == 0)
            return 1;
    return 0;
}

/* A name at s[*pos]: labels of 1..63 name characters joined by single dots; its end in *pos.
 * 0 when there is none. */
static int
read_name(const unsigned char *s, Py_ssize_t n, Py_ssize_t *pos)
{
    Py_ssize_t i = *pos;
    for (;;) {
        Py_ssize_t start = i;
        while (i < n && name_char(s[i]))
            i++;
        if (i == start || i - start > MAX_LABEL)
            return 0;
        if (i + 1 < n && s[i] == '.' && name_char(s[i + 1]))
            i++;
        else
            break;
    }
    *pos = i;
    return 1;
}

/* Whether line s[0:n) is a plain line of format fmt; its name is s[*start:*end). */
static int
plain_line(const unsigned char *s, Py_ssize_t n, int fmt, Py_ssize_t *start, Py_ssize_t *end)
{
    Py_ssize_t i = 0;
    if (fmt == 2) {
        if (n < 2 || s[0] != '|' || s[1] != '|')
            return 0;
        i = 2;
    } else {
        while (i < n && blank(s[i]))
            i++;
        if (fmt == 0) {
            if (n - i >= 7 && memcmp(s + i, "0.0.0.0", 7) == 0)
                i += 7;
            else if (n - i >= 9 && memcmp(s + i, "127.0.0.1", 9) == 0)
                i += 9;
            else
                return 0;
            if (i >= n || !blank(s[i]))
                return 0;
            while (i < n && blank(s[i]))
                i++;
        }
    }
    *start = i;
    if (!read_name(s, n, &i))
        return 0;
    *end = i;
    if (fmt == 2) {
        if (i >= n || s[i] != '^')
            return 0;
        i++;
    } else if (i < n && s[i] == '.') {
        i++;
    }
    while (i < n && blank(s[i]))
        i++;
    if (i != n)
        return 0;
    Py_ssize_t len = *end - *start;
    unsigned char last = s[*end - 1];
    return len <= MAX_NAME && !(last >= '0' && last <= '9') && !localhost(s + *start, len);
}

static PyObject *
ascii_str(const unsigned char *s, Py_ssize_t n)
{
    PyObject *out = PyUnicode_New(n, 127);
    if (out != NULL)
        memcpy(PyUnicode_DATA(out), s, (size_t)n);
    return out;
}

PyDoc_STRVAR(take_doc,
"take(data, pos, fmt, kept) -> (pos, plain, duplicates, other)\n\n"
"From data[pos:], the names of plain lines into the dict kept (see the module), up to and\n"
"with the first other line: the position after it, how many plain lines, how many of them\n"
"named a name kept already, and that line as str (None at the end of data).");

static PyObject *
take(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer view;
    Py_ssize_t pos;
    int fmt;
    PyObject *kept, *out = NULL, *other = NULL;
    if (!PyArg_ParseTuple(args, "y*niO!:take", &view, &pos, &fmt, &PyDict_Type, &kept))
        return NULL;
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, plain = 0, duplicates = 0;
    if (fmt < 0 || fmt > 2 || pos < 0 || pos > n) {
        PyErr_Format(PyExc_ValueError, "take(): fmt %d or pos %zd out of range", fmt, pos);
        goto done;
    }
    while (pos < n && other == NULL) {
        Py_ssize_t stop = pos;
        while (stop < n && p[stop] != '\n' && p[stop] != '\r')
            stop++;
        const unsigned char *line = p + pos;
        Py_ssize_t len = stop - pos, start, end;
        if (plain_line(line, len, fmt, &start, &end)) {
            PyObject *name = ascii_str(line + start, end - start);
            if (name == NULL)
                goto done;
            Py_ssize_t before = PyDict_GET_SIZE(kept);
            PyObject *found = PyDict_SetDefault(kept, name, Py_None); /* borrowed */
            Py_DECREF(name);
            if (found == NULL)
                goto done;
            plain++;
            duplicates += PyDict_GET_SIZE(kept) == before;
        } else {
            other = PyUnicode_DecodeUTF8((const char *)line, len, "replace");
            if (other == NULL)
                goto done;
        }
        if (stop == n)
            pos = n;
        else if (p[stop] == '\r' && stop + 1 < n && p[stop + 1] == '\n')
            pos = stop + 2;
        else
            pos = stop + 1;
    }
    if (other == NULL)
        other = Py_NewRef(Py_None);
    out = Py_BuildValue("(nnnN)", pos, plain, duplicates, other);
    other = NULL;
done:
    Py_XDECREF(other);
    PyBuffer_Release(&view);
    return out;
}

PyDoc_STRVAR(reversed_key_doc,
"reversed_key(name) -> str\n\n"
"name reversed with a dot after it, as the index's trie keys it: name[::-1] + \".\".");

static PyObject *
reversed_key(PyObject *module, PyObject *name)
{
    (void)module;
    if (!PyUnicode_Check(name)) {
        PyErr_Format(PyExc_TypeError, "reversed_key() needs a str, not %.100s",
                     Py_TYPE(name)->tp_name);
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(name);
    PyObject *key = PyUnicode_New(len + 1, PyUnicode_MAX_CHAR_VALUE(name));
    if (key == NULL)
        return NULL;
    int kind = PyUnicode_KIND(name), out_kind = PyUnicode_KIND(key);
    const void *src = PyUnicode_DATA(name);
    void *dst = PyUnicode_DATA(key);
    if (kind == PyUnicode_1BYTE_KIND && out_kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *from = src;
        Py_UCS1 *to = dst;
        for (Py_ssize_t j = 0; j < len; j++)
            to[j] = from[len - 1 - j];
    } else {
        for (Py_ssize_t j = 0; j < len; j++)
            PyUnicode_WRITE(out_kind, dst, j, PyUnicode_READ(kind, src, len - 1 - j));
    }
    PyUnicode_WRITE(out_kind, dst, len, '.');
    return key;
}

static PyMethodDef methods[] = {
    {"take", take, METH_VARARGS, take_doc},
    {"reversed_key", reversed_key, METH_O, reversed_key_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "agent.lists._scan",
    .m_doc = "The plain lines of a blocklist, found in C (agent.lists.parse is the reference).",
    .m_size = 0,
    .m_methods = methods,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}
