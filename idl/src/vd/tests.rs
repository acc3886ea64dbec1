//! `api.vd` rules: go-tagexpr's operators, functions and messages, and
//! what is refused at load.

use super::*;
use serde_json::json;

fn passes(rule: &str, v: Value) -> bool {
    let siblings = json!({"Age": 18, "Name": "Alice", "S": {"A": 5}, "tags": ["a", "b"]});
    let sibling = |path: &str| {
        let mut cur = &siblings;
        for p in path.split('.') {
            cur = cur.get(p)?;
        }
        Some(cur.clone())
    };
    Rule::parse(rule)
        .unwrap_or_else(|e| panic!("{rule}: {e}"))
        .check(&v, &sibling)
        .is_ok()
}

#[test]
fn operators_and_precedence() {
    assert!(passes("$>0", json!(1)));
    assert!(!passes("$>0", json!(0)));
    assert!(passes("$<0||$>=100", json!(107)));
    assert!(!passes("$<0||$>=100", json!(50)));
    assert!(passes("$>0&&$<200", json!(199)));
    assert!(!passes("$>0&&$<200", json!(200)));
    assert!(passes("$%3==0", json!(9)));
    assert!(!passes("$%3==0", json!(10)));
    assert!(passes("$*2+1==7", json!(3)), "* before +");
    assert!(passes("1+2*3==7", Value::Null));
    assert!(passes("-$==-4", json!(4)));
    assert!(passes("!($<0)", json!(1)));
    assert!(passes("$!=nil", json!("x")));
    assert!(!passes("$!=nil", Value::Null));
    assert!(passes("$==nil", Value::Null));
    assert!(passes("$!='Bob'", json!("Alice")));
    assert!(passes("$+'!'=='hi!'", json!("hi")));
    assert!(passes("$", json!(true)));
    assert!(!passes("!$", json!(true)));
    assert!(passes("$>='b'", json!("c")), "strings compare");
    assert!(!passes("$>1", json!("2")), "a string is not a number");
}

#[test]
fn fields_indexes_and_functions() {
    assert!(passes(
        "($!='Alice'||(Age)$==18) && regexp('\\w')",
        json!("Alice")
    ));
    assert!(passes("(S.A)$>0 && !$", json!(false)));
    assert!(!passes("(S.A)$>0 && !$", json!(true)));
    assert!(passes("(Missing)$==nil", json!(1)));
    assert!(passes("len($)>0 && $[0]=='D'", json!(["D", "x"])));
    assert!(passes("len($)==$['len']", json!({"len": 2, "x": 0})));
    assert!(passes("len((tags)$)==2", Value::Null));
    assert!(passes("len($)<=3", json!("abc")));
    assert!(!passes("len($)<=3", json!("你好")), "len counts bytes");
    assert!(passes("mblen($)<=2", json!("你好")));
    assert!(passes("len()==2", json!("ab")));
    assert!(passes("regexp('^[a-z]+$')", json!("abc")));
    assert!(!passes("regexp('^[a-z]+$')", json!("abC")));
    assert!(!passes("regexp('^[a-z]+$')", json!(1)));
    assert!(passes("regexp('^A', (Name)$)", Value::Null));
    assert!(passes("in($,'a','b')", json!("b")));
    assert!(!passes("in($,'a','b')", json!("c")));
    assert!(passes("in($,1,2,3)", json!(2)));
    assert!(passes("email($)", json!("henry.lee@example.com")));
    assert!(!passes("email($)", json!("not an email")));
    assert!(!passes("email($)", json!("a@b")));
}

#[test]
fn messages() {
    let none = |_: &str| None;
    let r = Rule::parse("{@:$>0}{msg:'must be positive'}").unwrap();
    assert_eq!(r.check(&json!(0), &none).unwrap_err(), "must be positive");
    let r = Rule::parse("$>0; msg:sprintf('got %v, want > %d', $, 0)").unwrap();
    assert_eq!(r.check(&json!(-2), &none).unwrap_err(), "got -2, want > 0");
    let r = Rule::parse("@:len($)<3").unwrap();
    assert_eq!(
        r.check(&json!("abcd"), &none).unwrap_err(),
        "fails api.vd \"@:len($)<3\""
    );
    assert!(Rule::parse("{@:in($,'a;b')}{msg:'x'}").is_ok());
}

#[test]
fn what_is_refused() {
    for (rule, want) in [
        ("phone($)", "`phone` is not one kitegate checks"),
        ("regexp('(')", "regexp('(')"),
        ("$>", "expected a value"),
        ("($>0", "expected `)`"),
        ("$>0 $", "unexpected"),
        ("'open", "unterminated"),
        ("{@:$>0", "unclosed"),
        ("{@:$>0}{msg:'x'", "unclosed"),
    ] {
        let e = Rule::parse(rule).expect_err(rule);
        assert!(e.contains(want), "{rule}: {e}");
    }
}

#[test]
fn go_names() {
    assert_eq!(go_name("user_id"), "UserId");
    assert_eq!(go_name("Name"), "Name");
    assert_eq!(go_name("a_b_c"), "ABC");
}
