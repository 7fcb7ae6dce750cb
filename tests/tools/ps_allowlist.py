# Copyright: (c) 2026, directaccess.iphttps contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The allow-list half of ps_check: every name a script relies on must be documented.

There is no Windows and no PowerShell here, so nothing proves that a cmdlet, a parameter or a
.NET type exists on the machines the scripts run on. The next best thing is a reviewed list,
``ps_allowlist.yml``, in which every command, type and CIM class carries the Microsoft Learn page
that documents it for Windows PowerShell 5.1 or .NET Framework 4.x. A name missing from the list
fails the check, so adding one means reading its page.

What is read from the syntax tree (never from the raw text, so comments and strings never count):

- every command: a function defined in the same script, a ``native_commands`` entry (``netsh.exe``),
  or a ``commands`` entry whose ``parameters`` (or their documented aliases, or the common
  parameters) hold every parameter it is given. Parameters must be written in full: PowerShell
  accepts any unambiguous prefix, but a prefix can turn ambiguous when a later version adds a
  parameter;
- ``New-Object -TypeName T``: T as a .NET type; New-Object without -TypeName is refused, because the
  type it makes could not be checked;
- ``-ClassName C`` of the CIM cmdlets: C in ``cim_classes``, in the namespace given with
  ``-Namespace`` (root/cimv2 when there is none), and Invoke-CimMethod's ``-MethodName`` among C's
  methods;
- every type literal (casts, ``-is``/``-as`` operands, attributes, generic arguments), resolved as
  PowerShell resolves it: a type accelerator, the name as written, or ``System.`` + the name;
- every static member ``[T]::M``: M in T's ``static_members`` (enum values included).

Not seen: instance members (``$x.Method()``: the type of ``$x`` is not known), code in a one-line
string handed to another process (``powershell.exe -Command "..."``; ps_check does look into
verbatim here-strings that hold code), parameters passed by splatting, and a CIM class given only
positionally or through ``-Query``.

Test tooling only: it is not part of the collection's runtime. It must not import ps_check.
"""

from __future__ import annotations

import os
import re
import typing as t

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))
ALLOWLIST_PATH = os.path.join(TOOLS_DIR, 'ps_allowlist.yml')

# A source is a page of Microsoft's documentation, for Windows PowerShell 5.1 or .NET Framework.
_SOURCE_RE = re.compile(r'^https://learn\.microsoft\.com/en-us/\S+$')
_TOP_KEYS = ('common_parameters', 'type_accelerators', 'commands', 'native_commands', 'types', 'cim_classes')

# The CIM cmdlets whose -ClassName names a class; Get-CimInstance's default namespace is root/cimv2.
_CIM_COMMANDS = frozenset((
    'get-ciminstance', 'new-ciminstance', 'invoke-cimmethod', 'get-cimclass', 'remove-ciminstance',
    'set-ciminstance', 'register-cimindicationevent',
))
_DEFAULT_CIM_NAMESPACE = 'root/cimv2'

# PowerShell also takes en dash, em dash and horizontal bar as the parameter dash.
PARAMETER_DASHES = '-\u2013\u2014\u2015'


class AllowlistError(Exception):
    """The allow-list file is missing or malformed; the message names the entry and the reason."""


class Command(t.NamedTuple):
    name: str
    module: str
    source: str
    parameters: dict  # lower-case name or alias -> documented name


class DotNetType(t.NamedTuple):
    name: str
    source: str
    static_members: dict  # lower-case -> documented name
    # Why New-Object of this type needs -ArgumentList (its parameterless constructor is a trap), or None.
    needs_arguments: str | None = None


class CimClass(t.NamedTuple):
    name: str
    namespace: str
    source: str
    methods: dict  # lower-case -> documented name


class Allowlist(t.NamedTuple):
    path: str
    common_parameters: dict  # lower-case name or alias -> documented name
    accelerators: dict  # lower-case short name -> full type name
    commands: dict  # lower-case name -> Command
    native_commands: dict  # lower-case file name -> source
    types: dict  # lower-case full name -> DotNetType
    cim_classes: dict  # lower-case name -> CimClass

    def resolve_type(self, name: str) -> str | None:
        """The documented full name PowerShell would bind ``[name]`` to, or None."""
        lower = name.lower()
        if lower in self.accelerators:
            return self.accelerators[lower]
        # PowerShell tries the name as written, then with 'System.' in front ('[Convert]').
        for candidate in (lower, 'system.' + lower):
            if candidate in self.types:
                return self.types[candidate].name
        return None


# --- loading ---------------------------------------------------------------------------------------

def _strict_loader():
    import yaml  # pylint: disable=import-outside-toplevel

    class StrictLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """SafeLoader that refuses a key given twice (PyYAML would keep the last one silently)."""

    def construct_mapping(loader, node, deep=False):
        seen = set()
        for key_node, _value_node in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise AllowlistError('line %d: key %r is given twice' % (key_node.start_mark.line + 1, key))
            seen.add(key)
        return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    return yaml, StrictLoader


class _Reader:
    """Checks the shape of the loaded document; every error names the entry."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, reason: str) -> t.NoReturn:
        raise AllowlistError('%s: %s: %s' % (self.path, where, reason))

    def mapping(self, value, where: str, required: tuple = (), optional: tuple = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, 'must be a mapping, got %s' % type(value).__name__)
        if required or optional:
            unknown = sorted(set(value) - set(required) - set(optional))
            if unknown:
                self.fail(where, 'unknown key(s) %s' % ', '.join(map(str, unknown)))
            missing = [key for key in required if key not in value]
            if missing:
                self.fail(where, 'missing key(s) %s' % ', '.join(missing))
        return value

    def text(self, value, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, 'must be a non-empty string, got %r' % (value,))
        return value

    def source(self, value, where: str) -> str:
        value = self.text(value, where)
        if not _SOURCE_RE.match(value):
            self.fail(where, 'must be a https://learn.microsoft.com/en-us/ page, got %r' % value)
        return value

    def names(self, value, where: str) -> dict:
        """A list of names -> {lower: name}; duplicates (ignoring case) are an error."""
        if not isinstance(value, list):
            self.fail(where, 'must be a list, got %s' % type(value).__name__)
        found = {}
        for index, item in enumerate(value):
            name = self.text(item, '%s[%d]' % (where, index))
            if name.lower() in found:
                self.fail(where, '%r is listed twice' % name)
            found[name.lower()] = name
        return found


def _read_commands(reader: _Reader, section: dict) -> dict:
    commands = {}
    for name, entry in section.items():
        where = 'commands.%s' % name
        entry = reader.mapping(entry, where, required=('module', 'source', 'parameters'),
                               optional=('parameter_aliases', 'note'))
        parameters = reader.names(entry['parameters'], where + '.parameters')
        aliases = reader.mapping(entry.get('parameter_aliases') or {}, where + '.parameter_aliases')
        for parameter, alias_list in aliases.items():
            if str(parameter).lower() not in parameters:
                reader.fail(where + '.parameter_aliases', '%s is not one of its parameters' % parameter)
            for alias in reader.names(alias_list, '%s.parameter_aliases.%s' % (where, parameter)):
                if alias in parameters:
                    reader.fail(where + '.parameter_aliases', 'alias %s is also a parameter name' % alias)
                parameters[alias] = parameters[str(parameter).lower()]
        if name.lower() in commands:
            reader.fail(where, 'listed twice (names ignore case)')
        commands[name.lower()] = Command(name, reader.text(entry['module'], where + '.module'),
                                         reader.source(entry['source'], where + '.source'), parameters)
    return commands


def _read_types(reader: _Reader, section: dict) -> dict:
    types = {}
    for name, entry in section.items():
        where = 'types.%s' % name
        entry = reader.mapping(entry, where, required=('source',),
                               optional=('static_members', 'note', 'needs_arguments'))
        if '.' not in name:
            reader.fail(where, 'give the full name with its namespace')
        if name.lower() in types:
            reader.fail(where, 'listed twice (names ignore case)')
        needs = entry.get('needs_arguments')
        types[name.lower()] = DotNetType(name, reader.source(entry['source'], where + '.source'),
                                         reader.names(entry.get('static_members') or [], where + '.static_members'),
                                         reader.text(needs, where + '.needs_arguments') if needs is not None else None)
    return types


def load_allowlist(path: str = ALLOWLIST_PATH) -> Allowlist:
    """Read and validate the allow-list; AllowlistError names what is wrong."""
    yaml, loader = _strict_loader()
    reader = _Reader(path)
    try:
        with open(path, encoding='utf-8') as handle:
            document = yaml.load(handle, Loader=loader)  # noqa: S506 - a SafeLoader subclass
    except OSError as e:
        raise AllowlistError('%s: cannot read: %s' % (path, e.strerror)) from e
    except AllowlistError as e:
        raise AllowlistError('%s: %s' % (path, e)) from e
    except yaml.YAMLError as e:
        raise AllowlistError('%s: not valid YAML: %s' % (path, e)) from e
    document = reader.mapping(document, '(top level)', required=_TOP_KEYS)

    common = reader.mapping(document['common_parameters'], 'common_parameters', required=('source', 'parameters'))
    reader.source(common['source'], 'common_parameters.source')
    common_parameters = {}
    for name, aliases in reader.mapping(common['parameters'], 'common_parameters.parameters').items():
        common_parameters[name.lower()] = name
        for alias in reader.names(aliases or [], 'common_parameters.parameters.%s' % name):
            common_parameters[alias] = name

    accelerator_section = reader.mapping(document['type_accelerators'], 'type_accelerators',
                                         required=('source', 'names'))
    reader.source(accelerator_section['source'], 'type_accelerators.source')
    accelerators = {}
    for short, full in reader.mapping(accelerator_section['names'], 'type_accelerators.names').items():
        where = 'type_accelerators.names.%s' % short
        if isinstance(full, dict):
            # A short name documented on another page than about_Type_Accelerators ([ordered]).
            full = reader.mapping(full, where, required=('type', 'source'))
            reader.source(full['source'], where + '.source')
            full = full['type']
        accelerators[str(short).lower()] = reader.text(full, where)

    native_commands = {}
    for name, entry in reader.mapping(document['native_commands'], 'native_commands').items():
        entry = reader.mapping(entry, 'native_commands.%s' % name, required=('source',), optional=('note',))
        if not name.lower().endswith('.exe'):
            reader.fail('native_commands.%s' % name, 'give the file name with .exe, as the scripts call it')
        native_commands[name.lower()] = reader.source(entry['source'], 'native_commands.%s.source' % name)

    cim_classes = {}
    for name, entry in reader.mapping(document['cim_classes'], 'cim_classes').items():
        where = 'cim_classes.%s' % name
        entry = reader.mapping(entry, where, required=('namespace', 'source'), optional=('methods', 'note'))
        cim_classes[name.lower()] = CimClass(
            name, _namespace(reader.text(entry['namespace'], where + '.namespace')),
            reader.source(entry['source'], where + '.source'),
            reader.names(entry.get('methods') or [], where + '.methods'))

    return Allowlist(
        path=path,
        common_parameters=common_parameters,
        accelerators=accelerators,
        commands=_read_commands(reader, reader.mapping(document['commands'], 'commands')),
        native_commands=native_commands,
        types=_read_types(reader, reader.mapping(document['types'], 'types')),
        cim_classes=cim_classes,
    )


def _namespace(text: str) -> str:
    return text.replace('\\', '/').strip('/').lower()


# --- reading the syntax tree ------------------------------------------------------------------------

def _text(node) -> str:
    return node.text.decode('utf-8', errors='replace')


def type_names(type_spec) -> list:
    """(type_name node, name) for a type_spec and its generic arguments, outermost first.

    ``[string[]]`` gives string; ``[Dictionary[string,int]]`` gives Dictionary, string, int.
    """
    found = []
    stack = [type_spec]
    while stack:
        spec = stack.pop()
        for child in spec.children:
            if child.type == 'type_name':
                found.append((child, _text(child)))
            elif child.type in ('generic_type_name', 'array_type_name'):
                name = next((c for c in child.children if c.type == 'type_name'), None)
                if name is not None:
                    found.append((name, _text(name)))
                # An array of a generic type nests one more level.
                stack.extend(c for c in reversed(child.children) if c.type in ('type_spec', 'generic_type_name'))
            elif child.type == 'generic_type_arguments':
                stack.extend(c for c in reversed(child.children) if c.type == 'type_spec')
    return found


def type_spec_of(node):
    """The type_spec of a type_literal or attribute_name node, or None."""
    return next((c for c in node.children if c.type == 'type_spec'), None)


def static_member(node):
    """(type_literal, member_name node) for ``[T]::M`` (member_access or invokation_expression)."""
    if node.type not in ('member_access', 'invokation_expression') or len(node.children) < 3:
        return None
    first, operator = node.children[0], node.children[1]
    if first.type != 'type_literal' or operator.type != '::':
        return None
    member = next((c for c in node.children[2:] if c.type == 'member_name'), None)
    return (first, member) if member is not None else None


def command_name(node):
    """(name node, name or None when computed) of a command node, or None if it has no name."""
    for child in node.children:
        if child.type == 'command_name':
            return child, _text(child)
        if child.type == 'command_name_expr':
            inner = child.children[0] if child.children else child
            if inner.type == 'command_name':
                return inner, _text(inner)
            if inner.type == 'string_literal':
                return inner, literal_value(inner)
            return inner, None
    return None


def literal_value(node) -> str | None:
    """The text a bare word or a string without expansions stands for; None when computed."""
    while node.type in ('array_literal_expression', 'unary_expression') and len(node.children) == 1:
        node = node.children[0]
    if node.type == 'generic_token':
        return _text(node)
    if node.type == 'string_literal' and len(node.children) == 1:
        inner = node.children[0]
        text = _text(inner)
        if inner.type == 'verbatim_string_characters' and len(text) >= 2:
            return text[1:-1].replace("''", "'")
        if inner.type == 'expandable_string_literal' and not inner.children and len(text) >= 2 \
                and '`' not in text and '$' not in text:
            return text[1:-1]
    return None


class _Element(t.NamedTuple):
    node: t.Any
    parameter: str | None  # the name without its dash, as written, for a parameter
    colon: bool  # -Name:value


def command_elements(node) -> list:
    """The elements of a command, parameters marked, argument separators left out."""
    elements = []
    for group in node.children:
        if group.type != 'command_elements':
            continue
        for element in group.children:
            if element.type == 'command_argument_sep':
                continue
            text = _text(element)
            # The grammar reads an en-dash parameter as a bare word.
            if element.type in ('command_parameter', 'generic_token') and text[:1] in PARAMETER_DASHES \
                    and len(text) > 1 and text != '--':
                name, colon, _value = text.lstrip(PARAMETER_DASHES).partition(':')
                elements.append(_Element(element, name, bool(colon)))
            else:
                elements.append(_Element(element, None, False))
    return elements


def parameter_value(elements: list, names: tuple, aliases: t.Mapping | None = None):
    """(parameter node, value node or None) of the first parameter named in names (lower case), or None.

    aliases maps a lower-case alias to its documented name (a Command's parameters).
    """
    for index, element in enumerate(elements):
        if element.parameter is None:
            continue
        given = element.parameter.lower()
        if aliases is not None:
            given = aliases.get(given, given).lower()
        if given in names:
            following = elements[index + 1] if index + 1 < len(elements) else None
            if following is not None and following.parameter is None:
                return element.node, following.node
            return element.node, None
    return None


# --- the check -----------------------------------------------------------------------------------

class _Findings:
    def __init__(self) -> None:
        self.items = []
        self._seen = set()

    def add(self, node, message: str) -> None:
        key = (node.start_byte, message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append((node.start_byte, message))


def check_tree(root, allowlist: Allowlist, walk: t.Callable) -> list:
    """(byte offset, message) for every name the allow-list does not document.

    walk(root) must yield the code nodes (not descending into comments or verbatim strings).
    """
    findings = _Findings()
    nodes = list(walk(root))
    functions = {_text(c).lower() for n in nodes if n.type == 'function_statement'
                 for c in n.children if c.type == 'function_name'}
    listed = os.path.relpath(allowlist.path, os.path.dirname(os.path.dirname(TOOLS_DIR)))
    for node in nodes:
        if node.type == 'command':
            _check_command(node, allowlist, functions, findings, listed)
        elif node.type in ('type_literal', 'attribute_name'):
            spec = type_spec_of(node)
            if spec is not None:
                for name_node, name in type_names(spec):
                    _check_type(name_node, name, allowlist, findings, listed,
                                attribute=node.type == 'attribute_name')
        else:
            member = static_member(node)
            if member is not None:
                _check_static_member(*member, allowlist, findings, listed)
    return sorted(findings.items)


def _check_type(node, name: str, allowlist: Allowlist, findings: _Findings, listed: str,
                attribute: bool = False) -> str | None:
    resolved = allowlist.resolve_type(name)
    if resolved is None and attribute:
        resolved = allowlist.resolve_type(name + 'Attribute')
    if resolved is None:
        findings.add(node, ".NET type '%s' is not in %s; add it with its .NET Framework page on "
                           "learn.microsoft.com" % (name, listed))
    return resolved


def _check_static_member(type_literal, member_node, allowlist: Allowlist, findings: _Findings, listed: str) -> None:
    spec = type_spec_of(type_literal)
    names = type_names(spec) if spec is not None else []
    if not names:
        return
    resolved = allowlist.resolve_type(names[0][1])
    if resolved is None:
        return  # the type itself is reported
    member = _text(member_node)
    if not re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', member):
        findings.add(member_node, "static member of %s is computed (%s); name it so the check can see it"
                     % (resolved, member))
        return
    entry = allowlist.types.get(resolved.lower())
    if entry is None or member.lower() not in entry.static_members:
        findings.add(member_node, "static member %s::%s is not in %s; add it to the type's static_members "
                                  "after checking its .NET Framework page" % (resolved, member, listed))


def _check_command(node, allowlist: Allowlist, functions: set, findings: _Findings, listed: str) -> None:
    found = command_name(node)
    if found is None:
        return
    name_node, name = found
    if name is None:
        findings.add(name_node, 'command name is computed (%s); call the command by its name so the check can '
                                'see it' % _text(name_node))
        return
    if not name.strip():
        return
    lower = name.lower()
    if lower.endswith('.exe'):
        base = re.split(r'[\\/]', lower)[-1]
        if base not in allowlist.native_commands:
            findings.add(name_node, "program '%s' is not in %s's native_commands; add it with its "
                                    "learn.microsoft.com page" % (name, listed))
        return
    module, _sep, bare = lower.rpartition('\\')
    if bare in functions and not module:
        return  # defined by the script itself
    command = allowlist.commands.get(bare)
    if command is None:
        findings.add(name_node, "command '%s' is not in %s; add it with its Windows PowerShell 5.1 page on "
                                "learn.microsoft.com (or write the cmdlet's name, not an alias)" % (name, listed))
        return
    if module and module != command.module.lower():
        findings.add(name_node, "command '%s' names module %s, but %s documents it in %s"
                     % (name, name.rpartition('\\')[0], listed, command.module))
    elements = command_elements(node)
    for element in elements:
        if element.parameter is None:
            continue
        given = element.parameter.lower()
        if given not in command.parameters and given not in allowlist.common_parameters:
            message = "parameter -%s of %s is not in %s (write parameters in full, as documented for Windows " \
                      "PowerShell 5.1)" % (element.parameter, command.name, listed)
            findings.add(element.node, message)
    if bare == 'new-object':
        _check_new_object(name_node, elements, allowlist, findings, listed)
    elif bare in _CIM_COMMANDS:
        _check_cim_class(bare, elements, command.parameters, allowlist, findings, listed)


def _check_new_object(name_node, elements: list, allowlist: Allowlist, findings: _Findings, listed: str) -> None:
    found = parameter_value(elements, ('typename',))
    if found is None:
        findings.add(name_node, 'New-Object without -TypeName: name the type with -TypeName so the check can '
                                'see it (COM objects are not in %s)' % listed)
        return
    parameter_node, value_node = found
    value = literal_value(value_node) if value_node is not None else None
    if value is None:
        findings.add(value_node or parameter_node, 'New-Object -TypeName is computed; write the type name so the '
                                                   'check can see it')
        return
    for name in type_names_in_text(value):
        resolved = _check_type(value_node, name, allowlist, findings, listed)
        spec = allowlist.types.get(resolved.lower()) if resolved else None
        if spec is not None and spec.needs_arguments and parameter_value(elements, ('argumentlist',)) is None:
            findings.add(value_node, 'New-Object -TypeName %s without -ArgumentList: %s' % (resolved, spec.needs_arguments))


def type_names_in_text(text: str) -> list:
    """The type names in a -TypeName string: 'byte[]' gives byte, 'List[string]' gives List and string."""
    return [name for name in (part.strip() for part in re.split(r'[\[\],]', text)) if name]


def _check_cim_class(command: str, elements: list, aliases: t.Mapping, allowlist: Allowlist, findings: _Findings,
                     listed: str) -> None:
    found = parameter_value(elements, ('classname',), aliases)
    if found is None:
        return  # -Query, -InputObject, or positional: not checked
    parameter_node, value_node = found
    class_name = literal_value(value_node) if value_node is not None else None
    if class_name is None:
        findings.add(value_node or parameter_node, '-ClassName is computed; write the class name so the check '
                                                   'can see it')
        return
    entry = allowlist.cim_classes.get(class_name.lower())
    if entry is None:
        findings.add(value_node, "CIM class '%s' is not in %s's cim_classes; add it with its learn.microsoft.com "
                                 "page" % (class_name, listed))
        return
    namespace = _DEFAULT_CIM_NAMESPACE
    given = parameter_value(elements, ('namespace',), aliases)
    if given is not None:
        namespace = literal_value(given[1]) if given[1] is not None else None
        if namespace is None:
            findings.add(given[1] or given[0], '-Namespace is computed; write it so the check can see it')
            return
    if _namespace(namespace) != entry.namespace:
        findings.add(value_node, 'CIM class %s lives in namespace %s, not %s%s'
                     % (entry.name, entry.namespace, namespace,
                        '' if given is not None else ' (the default without -Namespace)'))
    if command == 'invoke-cimmethod':
        method = parameter_value(elements, ('methodname',), aliases)
        if method is None:
            return
        text = literal_value(method[1]) if method[1] is not None else None
        if text is None:
            findings.add(method[1] or method[0], '-MethodName is computed; write it so the check can see it')
        elif text.lower() not in entry.methods:
            findings.add(method[1], 'method %s of CIM class %s is not in %s' % (text, entry.name, listed))
