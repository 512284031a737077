/* agent.lists._scan: the plain lines of a blocklist file, found in C (optional).
 *
 * agent.lists.parse is the reference: `parse_lines` reads a list line by line, takes the
 * lines its `_FAST_LINE` pattern matches in one step, and hands every other line to its
 * parser. A big list is nearly all such plain lines ("0.0.0.0 ads.example.com"), so here
 * they are found in one pass over the file's bytes, with no Python work per line:
 *
 *   scan(data, fmt) -> (names, others)
 *
 * `data` is a piece of a list file (bytes, whole lines; the byte-order mark already gone);
 * `fmt` is 0 (hosts), 1 (domains) or 2 (adblock). Lines end at "\n", "\r\n" or a lone "\r",
 * as Python's text files read them. `names` is the name of every plain line, in file order
 * (duplicates too); `others` is (how many names came before it, the line as str) for every
 * other line, decoded from UTF-8 with U+FFFD for broken bytes, as the text file would be.
 *
 * A plain line here is always one the reference takes in one step with the same name; the
 * reverse need not hold: anything unusual (upper case, other whitespace, a non-ASCII byte, a
 * name the reference would not take in one step) is left to the Python parser, which gives the
 * same result for it as it always did.
 *
 *   reversed_keys(names) -> list: each ASCII name reversed, with a trailing dot
 *                                 ("example.com" -> "moc.elpmaxe."), as the index keys names.
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

/* Append a new reference to list; the reference is dropped either way. */
static int
append(PyObject *list, PyObject *item)
{
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

PyDoc_STRVAR(scan_doc,
"scan(data, fmt) -> (names, others)\n\n"
"The names of a list's plain lines and every other line with its place (see the module).");

static PyObject *
scan(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer view;
    int fmt;
    if (!PyArg_ParseTuple(args, "y*i:scan", &view, &fmt))
        return NULL;
    PyObject *names = NULL, *others = NULL, *out = NULL;
    if (fmt < 0 || fmt > 2) {
        PyErr_Format(PyExc_ValueError, "fmt must be 0, 1 or 2, not %d", fmt);
        goto done;
    }
    names = PyList_New(0);
    others = PyList_New(0);
    if (names == NULL || others == NULL)
        goto done;
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, pos = 0;
    while (pos < n) {
        Py_ssize_t stop = pos;
        while (stop < n && p[stop] != '\n' && p[stop] != '\r')
            stop++;
        const unsigned char *line = p + pos;
        Py_ssize_t len = stop - pos, start, end;
        if (plain_line(line, len, fmt, &start, &end)) {
            if (append(names, ascii_str(line + start, end - start)) < 0)
                goto done;
        } else {
            PyObject *text = PyUnicode_DecodeUTF8((const char *)line, len, "replace");
            if (text == NULL)
                goto done;
            if (append(others, Py_BuildValue("(nN)", PyList_GET_SIZE(names), text)) < 0)
                goto done;
        }
        if (stop == n)
            pos = n;
        else if (p[stop] == '\r' && stop + 1 < n && p[stop + 1] == '\n')
            pos = stop + 2;
        else
            pos = stop + 1;
    }
    out = PyTuple_Pack(2, names, others);
done:
    Py_XDECREF(names);
    Py_XDECREF(others);
    PyBuffer_Release(&view);
    return out;
}

PyDoc_STRVAR(reversed_keys_doc,
"reversed_keys(names) -> list\n\n"
"Each name reversed with a dot after it, as the index keys it; names must be ASCII str.");

static PyObject *
reversed_keys(PyObject *module, PyObject *arg)
{
    (void)module;
    PyObject *seq = PySequence_Fast(arg, "reversed_keys() needs a sequence of str");
    if (seq == NULL)
        return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(count);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *name = PySequence_Fast_GET_ITEM(seq, i);
        if (!PyUnicode_Check(name) || !PyUnicode_IS_ASCII(name)) {
            PyErr_Format(PyExc_ValueError, "reversed_keys() needs ASCII str, not %R", name);
            Py_CLEAR(out);
            break;
        }
        Py_ssize_t len = PyUnicode_GET_LENGTH(name);
        PyObject *key = PyUnicode_New(len + 1, 127);
        if (key == NULL) {
            Py_CLEAR(out);
            break;
        }
        const char *src = (const char *)PyUnicode_DATA(name);
        char *dst = (char *)PyUnicode_DATA(key);
        for (Py_ssize_t j = 0; j < len; j++)
            dst[j] = src[len - 1 - j];
        dst[len] = '.';
        PyList_SET_ITEM(out, i, key);
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, scan_doc},
    {"reversed_keys", reversed_keys, METH_O, reversed_keys_doc},
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
