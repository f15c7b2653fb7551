package io.continualsft.chat.template;

import io.continualsft.chat.template.Ast.Binary;
import io.continualsft.chat.template.Ast.Call;
import io.continualsft.chat.template.Ast.Cond;
import io.continualsft.chat.template.Ast.DictExpr;
import io.continualsft.chat.template.Ast.Expr;
import io.continualsft.chat.template.Ast.Filter;
import io.continualsft.chat.template.Ast.GetAttr;
import io.continualsft.chat.template.Ast.GetItem;
import io.continualsft.chat.template.Ast.ListExpr;
import io.continualsft.chat.template.Ast.Literal;
import io.continualsft.chat.template.Ast.Name;
import io.continualsft.chat.template.Ast.Node;
import io.continualsft.chat.template.Ast.Slice;
import io.continualsft.chat.template.Ast.Test;
import io.continualsft.chat.template.Ast.Unary;
import io.continualsft.chat.template.Py.Namespace;
import io.continualsft.chat.template.Py.PyCallable;
import io.continualsft.chat.template.Py.Undefined;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Renders a parsed template with Python semantics. One instance per render; not thread-safe. */
final class Interpreter {
  static final int MAX_OUTPUT_CHARS = RenderBudget.MAX_OUTPUT_CHARS;

  private static final class Scope {
    final Map<String, Object> vars = new HashMap<>();
    final Scope parent;

    Scope(Scope parent) {
      this.parent = parent;
    }

    Object lookup(String name) {
      for (Scope s = this; s != null; s = s.parent) {
        if (s.vars.containsKey(name)) {
          return s.vars.get(name);
        }
      }
      return Undefined.variable(name);
    }
  }

  private static final class BreakSignal extends RuntimeException {
    BreakSignal() {
      super(null, null, false, false);
    }
  }

  private static final class ContinueSignal extends RuntimeException {
    ContinueSignal() {
      super(null, null, false, false);
    }
  }

  private StringBuilder out = new StringBuilder();
  private final RenderBudget budget = new RenderBudget();

  String render(List<Node> template, Map<String, Object> globals, Map<String, Object> variables) {
    Scope root = new Scope(null);
    root.vars.putAll(globals);
    root.vars.putAll(variables);
    exec(template, new Scope(root));
    return out.toString();
  }

  // --- statements ---------------------------------------------------------------------------

  private void exec(List<Node> nodes, Scope scope) {
    for (Node node : nodes) {
      exec(node, scope);
    }
  }

  private void exec(Node node, Scope scope) {
    switch (node) {
      case Ast.Text t -> write(t.text());
      case Ast.Output o -> write(Py.str(eval(o.expr(), scope)));
      case Ast.If i -> {
        for (int k = 0; k < i.tests().size(); k++) {
          if (Py.truthy(eval(i.tests().get(k), scope))) {
            exec(i.bodies().get(k), scope);
            return;
          }
        }
        exec(i.elseBody(), scope);
      }
      case Ast.For f -> execFor(f, scope);
      case Ast.Set s -> execSet(s, scope);
      case Ast.SetBlock s -> {
        StringBuilder saved = out;
        out = new StringBuilder();
        try {
          exec(s.body(), scope);
          scope.vars.put(s.target(), out.toString());
        } finally {
          out = saved;
        }
      }
      case Ast.Macro m -> scope.vars.put(m.name(), macro(m, scope));
      case Ast.Break b -> throw new BreakSignal();
      case Ast.Continue c -> throw new ContinueSignal();
      case Ast.FilterBlock f -> {
        StringBuilder saved = out;
        out = new StringBuilder();
        String body;
        try {
          exec(f.body(), scope);
          body = out.toString();
        } finally {
          out = saved;
        }
        write(Py.str(Filters.filter(f.filter(), body, evalAll(f.args(), scope), Map.of(), f.line())));
      }
      case Ast.Generation g -> exec(g.body(), scope);
    }
  }

  private void write(String s) {
    if (out.length() + s.length() > MAX_OUTPUT_CHARS) {
      throw new TemplateException("the render exceeded " + MAX_OUTPUT_CHARS + " characters");
    }
    out.append(s);
  }

  private void execFor(Ast.For f, Scope scope) {
    List<Object> items = Py.iterate(eval(f.iterable(), scope), f.line());
    Scope loopScope = new Scope(scope);
    if (f.filter() != null) {
      List<Object> kept = new ArrayList<>();
      for (Object item : items) {
        budget.step("template line " + f.line());
        bindTargets(f.targets(), item, loopScope, f.line());
        if (Py.truthy(eval(f.filter(), loopScope))) {
          kept.add(item);
        }
      }
      items = kept;
    }
    if (items.isEmpty()) {
      exec(f.elseBody(), scope);
      return;
    }
    for (int i = 0; i < items.size(); i++) {
      budget.step("template line " + f.line());
      bindTargets(f.targets(), items.get(i), loopScope, f.line());
      loopScope.vars.put("loop", loopContext(items, i));
      try {
        exec(f.body(), loopScope);
      } catch (BreakSignal b) {
        break;
      } catch (ContinueSignal c) {
        // next item
      }
    }
  }

  private static Map<String, Object> loopContext(List<Object> items, int i) {
    int n = items.size();
    Map<String, Object> loop = new LinkedHashMap<>();
    loop.put("index", (long) i + 1);
    loop.put("index0", (long) i);
    loop.put("revindex", (long) (n - i));
    loop.put("revindex0", (long) (n - i - 1));
    loop.put("first", i == 0);
    loop.put("last", i == n - 1);
    loop.put("length", (long) n);
    loop.put("depth", 1L);
    loop.put("depth0", 0L);
    loop.put("previtem", i > 0 ? items.get(i - 1) : Undefined.variable("previtem"));
    loop.put("nextitem", i < n - 1 ? items.get(i + 1) : Undefined.variable("nextitem"));
    loop.put("cycle", (PyCallable) (args, kwargs) -> args.isEmpty()
        ? Undefined.variable("cycle") : args.get(i % args.size()));
    return loop;
  }

  private void bindTargets(List<String> targets, Object value, Scope scope, int line) {
    if (targets.size() == 1) {
      scope.vars.put(targets.get(0), value);
      return;
    }
    List<Object> parts = Py.iterate(value, line);
    if (parts.size() != targets.size()) {
      throw new TemplateException("cannot unpack " + parts.size() + " values into "
          + targets.size() + " names (template line " + line + ")");
    }
    for (int i = 0; i < targets.size(); i++) {
      scope.vars.put(targets.get(i), parts.get(i));
    }
  }

  private void execSet(Ast.Set s, Scope scope) {
    Object value = eval(s.value(), scope);
    if (s.namespaceAttr() != null) {
      Object target = scope.lookup(s.targets().get(0));
      if (!(target instanceof Namespace ns)) {
        throw new TemplateException("cannot assign attribute on non-namespace object '"
            + s.targets().get(0) + "' (template line " + s.line() + ")");
      }
      ns.attrs.put(s.namespaceAttr(), value);
      return;
    }
    bindTargets(s.targets(), value, scope, s.line());
  }

  private PyCallable macro(Ast.Macro m, Scope defining) {
    return (args, kwargs) -> {
      budget.step("macro " + m.name());
      budget.enterCall(m.name());
      try {
        return callMacro(m, defining, args, kwargs);
      } finally {
        budget.exitCall();
      }
    };
  }

  private String callMacro(Ast.Macro m, Scope defining, List<Object> args,
    Map<String, Object> kwargs) {
    Scope local = new Scope(defining);
    for (int i = 0; i < m.params().size(); i++) {
      String p = m.params().get(i);
      Object v;
      if (i < args.size()) {
        v = args.get(i);
      } else if (kwargs.containsKey(p)) {
        v = kwargs.get(p);
      } else if (m.defaults().get(i) != null) {
        v = eval(m.defaults().get(i), local);
      } else {
        v = Undefined.variable(p);
      }
      local.vars.put(p, v);
    }
    local.vars.put("varargs", new ArrayList<>(args.subList(Math.min(args.size(),
        m.params().size()), args.size())));
    StringBuilder saved = out;
    out = new StringBuilder();
    try {
      exec(m.body(), local);
      return out.toString();
    } finally {
      out = saved;
    }
  }

  // --- expressions --------------------------------------------------------------------------

  private Object eval(Expr e, Scope scope) {
    return switch (e) {
      case Literal l -> l.value();
      case Name n -> scope.lookup(n.name());
      case ListExpr l -> l.tuple() ? new Py.Tuple(evalAll(l.items(), scope))
          : evalAll(l.items(), scope);
      case DictExpr d -> {
        Map<Object, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < d.keys().size(); i++) {
          map.put(eval(d.keys().get(i), scope), eval(d.values().get(i), scope));
        }
        yield map;
      }
      case GetAttr g -> Access.getAttr(eval(g.target(), scope), g.name(), g.line());
      case GetItem g -> Access.getItem(eval(g.target(), scope), eval(g.index(), scope), g.line());
      case Slice s -> Access.slice(eval(s.target(), scope),
          s.start() == null ? null : eval(s.start(), scope),
          s.stop() == null ? null : eval(s.stop(), scope),
          s.step() == null ? null : eval(s.step(), scope));
      case Call c -> {
        Object callee = eval(c.callee(), scope);
        if (callee instanceof PyCallable f) {
          yield f.call(evalAll(c.args(), scope), evalKeywords(c.kwNames(), c.kwValues(), scope));
        }
        throw new TemplateException("'" + describe(c.callee()) + "' is not callable ("
            + Py.typeName(callee) + ", template line " + c.line() + ")");
      }
      case Filter f -> Filters.filter(f.name(), eval(f.value(), scope), evalAll(f.args(), scope),
          evalKeywords(f.kwNames(), f.kwValues(), scope), f.line());
      case Test t -> t.negated()
          != Tests.test(t.name(), eval(t.value(), scope), evalAll(t.args(), scope), t.line());
      case Unary u -> {
        Object v = eval(u.operand(), scope);
        yield switch (u.op()) {
          case "not" -> !Py.truthy(v);
          case "-" -> Operators.negate(v);
          default -> v;
        };
      }
      case Binary b -> evalBinary(b, scope);
      case Cond c -> Py.truthy(eval(c.test(), scope)) ? eval(c.then(), scope)
          : c.otherwise() == null ? Undefined.variable("else-branch") : eval(c.otherwise(), scope);
    };
  }

  private List<Object> evalAll(List<Expr> exprs, Scope scope) {
    List<Object> values = new ArrayList<>(exprs.size());
    for (Expr e : exprs) {
      values.add(eval(e, scope));
    }
    return values;
  }

  private Map<String, Object> evalKeywords(List<String> names, List<Expr> values, Scope scope) {
    Map<String, Object> kwargs = new LinkedHashMap<>();
    for (int i = 0; i < names.size(); i++) {
      kwargs.put(names.get(i), eval(values.get(i), scope));
    }
    return kwargs;
  }

  private Object evalBinary(Binary b, Scope scope) {
    if (b.op().equals("and")) {
      Object left = eval(b.left(), scope);
      return Py.truthy(left) ? eval(b.right(), scope) : left;
    }
    if (b.op().equals("or")) {
      Object left = eval(b.left(), scope);
      return Py.truthy(left) ? left : eval(b.right(), scope);
    }
    Object left = eval(b.left(), scope);
    Object right = eval(b.right(), scope);
    return switch (b.op()) {
      case "==" -> Py.eq(left, right);
      case "!=" -> !Py.eq(left, right);
      case "<" -> Py.compare(left, right, b.line()) < 0;
      case "<=" -> Py.compare(left, right, b.line()) <= 0;
      case ">" -> Py.compare(left, right, b.line()) > 0;
      case ">=" -> Py.compare(left, right, b.line()) >= 0;
      case "in" -> Operators.contains(right, left, b.line());
      case "not in" -> !Operators.contains(right, left, b.line());
      case "~" -> Py.str(left) + Py.str(right);
      default -> Operators.arithmetic(b.op(), left, right, b.line());
    };
  }

  private static String describe(Expr e) {
    return switch (e) {
      case Name n -> n.name();
      case GetAttr g -> describe(g.target()) + "." + g.name();
      default -> "expression";
    };
  }
}
