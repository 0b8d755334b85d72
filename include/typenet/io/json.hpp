// typenet/io/json.hpp - a strict parser for the JSON subset of safetensors headers.
//
// Safetensors headers use objects, arrays, strings and non-negative integers,
// nothing else; so this parser accepts exactly that (plus a leading minus sign,
// so the caller can say "negative" instead of "bad JSON"). true / false / null,
// fractions and exponents, duplicate keys, invalid UTF-8, control characters in
// strings, nesting deeper than 16 levels and more than 2^20 values are errors.
// It is written for untrusted input: recursion and the number of values (so
// memory, about 150 bytes per value) are bounded, and every error names its
// byte offset.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

namespace typenet::json {

/// A JSON value of the supported subset. Object members keep the file's order.
struct Value {
    enum class Kind { object, array, string, integer };
    Kind kind = Kind::object;
    std::size_t offset = 0;  // byte offset in the text, for messages
    std::string string{};
    std::uint64_t integer = 0;
    bool negative = false;  // integer < 0 (then `integer` holds its magnitude)
    std::vector<Value> items{};
    std::vector<std::pair<std::string, Value>> members{};

    const Value* find(std::string_view key) const {
        for (const auto& [k, v] : members)
            if (k == key) return &v;
        return nullptr;
    }
    static const char* kind_name(Kind k) {
        switch (k) {
            case Kind::object: return "an object";
            case Kind::array: return "an array";
            case Kind::string: return "a string";
            case Kind::integer: return "an integer";
        }
        return "a value";
    }
};

/// A syntax error; what() says what was expected, offset() where.
class SyntaxError : public std::runtime_error {
public:
    SyntaxError(const std::string& what, std::size_t offset)
        : std::runtime_error(what + " at byte " + std::to_string(offset)), offset_(offset) {}
    std::size_t offset() const { return offset_; }

private:
    std::size_t offset_;
};

namespace detail {

class Parser {
public:
    static constexpr int max_depth = 16;  // safetensors needs 3; the limit stops stack exhaustion
    static constexpr std::size_t max_values = std::size_t{1} << 20;  // ~8 per tensor: room for 100k tensors

    explicit Parser(std::string_view text) : s_(text) {}

    Value parse_document() {
        skip_ws();
        Value v = parse_value(0);
        skip_ws();
        if (i_ != s_.size()) fail("unexpected text after the end of the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const { throw SyntaxError(what, i_); }
    bool at_end() const { return i_ >= s_.size(); }
    unsigned char peek() const { return at_end() ? 0 : static_cast<unsigned char>(s_[i_]); }
    void skip_ws() {
        while (!at_end() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    void expect(char c) {
        if (at_end()) fail(std::string("unexpected end of the header, expected '") + c + "'");
        if (s_[i_] != c) fail(std::string("expected '") + c + "' but found " + describe());
        ++i_;
    }
    std::string describe() const {
        if (at_end()) return "the end of the header";
        const unsigned char c = peek();
        if (c >= 0x20 && c < 0x7F) return std::string("'") + char(c) + "'";
        return "byte " + std::to_string(unsigned(c));
    }

    Value parse_value(int depth) {
        if (depth > max_depth) fail("the JSON nests deeper than " + std::to_string(max_depth) + " levels");
        if (++values_ > max_values) fail("the JSON holds more than " + std::to_string(max_values) + " values");
        if (at_end()) fail("unexpected end of the header, expected a value");
        const unsigned char c = peek();
        if (c == '{') return parse_object(depth);
        if (c == '[') return parse_array(depth);
        if (c == '"') {
            Value v{Value::Kind::string, i_};
            v.string = parse_string();
            return v;
        }
        if (c == '-' || (c >= '0' && c <= '9')) return parse_integer();
        if (c == 't' || c == 'f' || c == 'n') fail("true, false and null are not allowed in a safetensors header");
        fail("expected a value but found " + describe());
    }

    Value parse_object(int depth) {
        Value v{Value::Kind::object, i_};
        expect('{');
        skip_ws();
        if (peek() == '}') return ++i_, v;
        std::unordered_set<std::string> keys;  // a linear scan would be quadratic on hostile headers
        while (true) {
            skip_ws();
            if (peek() != '"') fail("expected a string key but found " + describe());
            const std::size_t key_at = i_;
            std::string key = parse_string();
            if (!keys.insert(key).second) throw SyntaxError("duplicate key \"" + key + "\"", key_at);
            skip_ws();
            expect(':');
            skip_ws();
            Value item = parse_value(depth + 1);
            v.members.emplace_back(std::move(key), std::move(item));
            skip_ws();
            if (peek() == ',') { ++i_; continue; }
            expect('}');
            return v;
        }
    }

    Value parse_array(int depth) {
        Value v{Value::Kind::array, i_};
        expect('[');
        skip_ws();
        if (peek() == ']') return ++i_, v;
        while (true) {
            skip_ws();
            v.items.push_back(parse_value(depth + 1));
            skip_ws();
            if (peek() == ',') { ++i_; continue; }
            expect(']');
            return v;
        }
    }

    Value parse_integer() {
        Value v{Value::Kind::integer, i_};
        if (peek() == '-') v.negative = true, ++i_;
        if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit but found " + describe());
        if (peek() == '0' && i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
            fail("numbers must not have leading zeros");
        while (peek() >= '0' && peek() <= '9') {
            const std::uint64_t d = peek() - '0';
            if (v.integer > (std::numeric_limits<std::uint64_t>::max() - d) / 10) fail("the integer does not fit in 64 bits");
            v.integer = v.integer * 10 + d;
            ++i_;
        }
        if (peek() == '.' || peek() == 'e' || peek() == 'E')
            fail("only integers are allowed in a safetensors header (found a fraction or exponent)");
        return v;
    }

    unsigned hex4() {
        unsigned u = 0;
        for (int k = 0; k < 4; ++k, ++i_) {
            const unsigned char c = peek();
            if (at_end()) fail("unexpected end of the header inside a \\u escape");
            u <<= 4;
            if (c >= '0' && c <= '9') u |= c - '0';
            else if (c >= 'a' && c <= 'f') u |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') u |= c - 'A' + 10;
            else fail("a \\u escape needs four hexadecimal digits");
        }
        return u;
    }
    static void put_utf8(std::string& out, unsigned cp) {
        if (cp < 0x80) {
            out += char(cp);
        } else if (cp < 0x800) {
            out += char(0xC0 | (cp >> 6)), out += char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += char(0xE0 | (cp >> 12)), out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
        } else {
            out += char(0xF0 | (cp >> 18)), out += char(0x80 | ((cp >> 12) & 0x3F));
            out += char(0x80 | ((cp >> 6) & 0x3F)), out += char(0x80 | (cp & 0x3F));
        }
    }
    // Copies one UTF-8 sequence starting at i_ into out, rejecting overlong
    // forms, surrogates and code points above U+10FFFF.
    void copy_utf8(std::string& out) {
        const unsigned char c = peek();
        int len = 0;
        unsigned cp = 0, min = 0;
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07, min = 0x10000;
        else fail("invalid UTF-8 in a string");
        if (s_.size() - i_ < std::size_t(len)) fail("invalid UTF-8 in a string (truncated sequence)");
        for (int k = 1; k < len; ++k) {
            const unsigned char b = static_cast<unsigned char>(s_[i_ + k]);
            if ((b & 0xC0) != 0x80) fail("invalid UTF-8 in a string");
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) fail("invalid UTF-8 in a string");
        out.append(s_.substr(i_, len));
        i_ += len;
    }

    std::string parse_string() {
        expect('"');
        std::string out;
        while (true) {
            if (at_end()) fail("unterminated string");
            const unsigned char c = peek();
            if (c == '"') return ++i_, out;
            if (c < 0x20) fail("control character (byte " + std::to_string(unsigned(c)) + ") inside a string; escape it");
            if (c >= 0x80) { copy_utf8(out); continue; }
            if (c != '\\') { out += char(c), ++i_; continue; }
            ++i_;
            if (at_end()) fail("unterminated escape in a string");
            const char e = s_[i_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xDC00 && cp <= 0xDFFF) fail("a \\u escape holds a lone low surrogate");
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        if (s_.substr(i_, 2) != "\\u") fail("a \\u escape holds a high surrogate without its pair");
                        i_ += 2;
                        const unsigned lo = hex4();
                        if (lo < 0xDC00 || lo > 0xDFFF) fail("a \\u escape holds a high surrogate without its pair");
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    put_utf8(out, cp);
                    break;
                }
                default: --i_, fail("invalid escape '\\" + std::string(1, e) + "' in a string");
            }
        }
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::size_t values_ = 0;
};

}  // namespace detail

/// Parses `text` (the whole of it, surrounding whitespace allowed). Throws SyntaxError.
inline Value parse(std::string_view text) { return detail::Parser(text).parse_document(); }

/// `s` as a JSON string literal, quotes included (for writers).
inline std::string quote(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\t') out += "\\t";
        else if (c == '\r') out += "\\r";
        else if (c < 0x20) {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\u00";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += ch;
        }
    }
    return out + "\"";
}

}  // namespace typenet::json
