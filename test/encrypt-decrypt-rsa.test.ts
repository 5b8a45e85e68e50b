// POST /v1/encrypt and /v1/synchronousDecrypt with RSA keys: every RSA cipher × key size, `openssl
// pkeyutl` both ways, public-key and certificate imports, and PKCS#1 v1.5 decryption with implicit
// rejection (OpenSSL 3.2 known answers) on Node 20 without --security-revert.
// On the PKCS#11 keystore: PKCS#1 v1.5 and OAEP-SHA-2 decryption are refused on the token (400/611).
// warden-test-keystore: both
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, createPrivateKey, createPublicKey, generateKeyPair, privateDecrypt, publicEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { implicitRejectionKey, privateExponentHash, unpadPkcs1Type2 } from '../src/crypto/ciphers/implicit-rejection.ts';
import { CIPHERS, type RsaCipher } from '../src/crypto/ciphers/registry.ts';
import { configureRsaPool, rsaPoolSize } from '../src/crypto/ciphers/rsa-pool.ts';
import { startTestWarden, type TestWarden } from './helpers/runtime.ts';
import { assertRefusedOnToken, refusedOnToken } from './helpers/keystore-under-test.ts';

const generate = promisify(generateKeyPair);

// Known-answer vectors for RSA PKCS#1 v1.5 decryption with implicit rejection, from OpenSSL's
// test/recipes/30-test_evp_data/evppkey_rsa_common.txt (Apache-2.0): the 2049-bit and 3072-bit keys
// and their Decrypt tests. OpenSSL ≥ 3.2 returns exactly these outputs; Warden must too.
const RSA_2049_PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIEpQIBAAKCAQEBVfiJVWoXdfHHp3hqULGLwoyemG7eVmfKs5uEEk6Q66dcHbCD',
  'rD5EO7qU3CNWD3XjqBaToqQ73HQm2MTq/mjIXeD+dX9uSbue1EfmAkMIANuwTOsi',
  '5/pXoY0zj7ZgJs20Z+cMwEDn02fvQDx78ePfYkZQCUYx8h6v0vtbyRX/BDeazRES',
  '9zLAtGYHwXjTiiD1LtpQny+cBAXVEGnoDM+UFVTQRwRnUFw89UHqCJffyfQAzssp',
  'j/x1M3LZ9pM68XTMQO2W1GcDFzO5f4zd0/krw6A+qFdsQX8kAHteT3UBEFtUTen6',
  '3N/635jftLsFuBmfP4Ws/ZH3qaCUuaOD9QSQlwIDAQABAoIBAQEZwrP1CnrWFSZ5',
  '1/9RCVisLYym8AKFkvMy1VoWc2F4qOZ/F+cFzjAOPodUclEAYBP5dNCj20nvNEyl',
  'omo0wEUHBNDkIuDOI6aUJcFf77bybhBu7/ZMyLnXRC5NpOjIUAjq6zZYWaIpT6OT',
  'e8Jr5WMy59geLBYO9jXMUoqnvlXmM6cj28Hha6KeUrKa7y+eVlT9wGZrsPwlSsvo',
  'DmOHTw9fAgeC48nc/CUg0MnEp7Y05FA/u0k+Gq/us/iL16EzmHJdrm/jmed1zV1M',
  '8J/IODR8TJjasaSIPM5iBRNhWvqhCmM2jm17ed9BZqsWJznvUVpEAu4eBgHFpVvH',
  'HfDjDt+BAoGBAYj2k2DwHhjZot4pUlPSUsMeRHbOpf97+EE99/3jVlI83JdoBfhP',
  'wN3sdw3wbO0GXIETSHVLNGrxaXVod/07PVaGgsh4fQsxTvasZ9ZegTM5i2Kgg8D4',
  'dlxa1A1agfm73OJSftfpUAjLECnLTKvR+em+38KGyWVSJV2n6rGSF473AoGBAN7H',
  'zxHa3oOkxD0vgBl/If1dRv1XtDH0T+gaHeN/agkf/ARk7ZcdyFCINa3mzF9Wbzll',
  'YTqLNnmMkubiP1LvkH6VZ+NBvrxTNxiWJfu+qx87ez+S/7JoHm71p4SowtePfC2J',
  'qqok0s7b0GaBz+ZcNse/o8W6E1FiIi71wukUyYNhAoGAEgk/OnPK7dkPYKME5FQC',
  '+HGrMsjJVbCa9GOjvkNw8tVYSpq7q2n9sDHqRPmEBl0EYehAqyGIhmAONxVUbIsL',
  'ha0m04y0MI9S0H+ZRH2R8IfzndNAONsuk46XrQU6cfvtZ3Xh3IcY5U5sr35lRn2c',
  'ut3H52XIWJ4smN/cJcpOyoECgYEAjM5hNHnPlgj392wkXPkbtJXWHp3mSISQVLTd',
  'G0MW8/mBQg3AlXi/eRb+RpHPrppk5jQLhgMjRSPyXXe2amb8PuWTqfGN6l32PtX3',
  '3+udILpppb71Wf+w7JTbcl9v9uq7o9SVR8DKdPA+AeweSQ0TmqCnlHuNZizOSjwP',
  'G16GF0ECgYEA+ZWbNMS8qM5IiHgbMbHptdit9dDT4+1UXoNn0/hUW6ZEMriHMDXv',
  'iBwrzeANGAn5LEDYeDe1xPms9Is2uNxTpZVhpFZSNALR6Po68wDlTJG2PmzuBv5t',
  '5mbzkpWCoD4fRU53ifsHgaTW+7Um74gWIf0erNIUZuTN2YrtEPTnb3k=',
  '-----END RSA PRIVATE KEY-----'
].join('\n');
const RSA_3072_PEM = [
  '-----BEGIN RSA PRIVATE KEY-----',
  'MIIG5AIBAAKCAYEAr9ccqtXp9bjGw2cHCkfxnX5mrt4YpbJ0H7PE0zQ0VgaSotkJ',
  '72iI7GAv9rk68ljudDA8MBr81O2+xDMR3cjdvwDdu+OG0zuNDiKxtEk23EiYcbhS',
  'N7NM50etj9sMTk0dqnqt8HOFxchzLMt9Wkni5QyIPH16wQ7Wp02ayQ35EpkFoX1K',
  'CHIQ/Hi20EseuWlILBGm7recUOWxbz8lT3VxUosvFxargW1uygcnveqYBZMpcw64',
  'wzznHWHdSsOTtiVuB6wdEk8CANHD4FpMG8fx7S/IPlcZnP5ZCLEAh+J/vZfSwkIU',
  'YZxxR8j778o5vCVnYqaCNTH34jTWjq56DZ+vEN0V6VI3gMfVrlgJStUlqQY7TDP5',
  'XhAG2i6xLTdDaJSVwfICPkBzU8XrPkyhxIz/gaEJANFIIOuAGvTxpZbEuc6aUx/P',
  'ilTZ/9ckJYtu7CAQjfb9/XbUrgO6fqWY3LDkooCElYcob01/JWzoXl61Z5sdrMH5',
  'CVZJty5foHKusAN5AgMBAAECggGAJRfqyzr+9L/65gOY35lXpdKhVKgzaNjhWEKy',
  '9Z7gn3kZe9LvHprdr4eG9rQSdEdAXjBCsh8vULeqc3cWgMO7y2wiWl1f9rVsRxwY',
  'gqCjOwrxZaPtbCSdx3g+a8dYrDfmVy0z/jJQeO2VJlDy65YEkC75mlEaERnRPE/J',
  'pDoXXc37+xoUAP4XCTtpzTzbiV9lQy6iGV+QURxzNrWKaF2s/y2vTF6S5WWxZlrm',
  'DlErqplluAjV/xGc63zWksv5IAZ6+s2An2a+cG2iaBCseQ2xVslI5v5YG8mEkVf0',
  '2kk/OmSwxuEZ4DGxB/hDbOKRYLRYuPnxCV/esZJjOE/1OHVXvE8QtANN6EFwO60s',
  'HnacI4U+tjCjbRBh3UbipruvdDqX8LMsNvUMGjci3vOjlNkcLgeL8J15Xs3l5WuC',
  'Avl0Am91/FbpoN1qiPLny3jvEpjMbGUgfKRb03GIgHtPzbHmDdjluFZI+376i2/d',
  'RI85dBqNmAn+Fjrz3kW6wkpahByBAoHBAOSj2DDXPosxxoLidP/J/RKsMT0t0FE9',
  'UFcNt+tHYv6hk+e7VAuUqUpd3XQqz3P13rnK4xvSOsVguyeU/WgmH4ID9XGSgpBP',
  'Rh6s7izn4KAJeqfI26vTPxvyaZEqB4JxT6k7SerENus95zSn1v/f2MLBQ16EP8cJ',
  '+QSOVCoZfEhUK+srherQ9eZKpj0OwBUrP4VhLdymv96r8xddWX1AVj4OBi2RywKI',
  'gAgv6fjwkb292jFu6x6FjKRNKwKK6c3jqQKBwQDE4c0Oz0KYYV4feJun3iL9UJSv',
  'StGsKVDuljA4WiBAmigMZTii/u0DFEjibiLWcJOnH53HTr0avA6c6D1nCwJ2qxyF',
  'rHNN2L+cdMx/7L1zLR11+InvRgpIGbpeGwHeIzJVUYG3b6llRJMZimBvAMr9ipM1',
  'bkVvIjt1G9W1ypeuKzm6d/t8F0yC7AIYZWDV4nvxiiY8whLZzGawHR2iZz8pfUwb',
  '7URbTvxdsGE27Kq9gstU0PzEJpnU1goCJ7/gA1ECgcBA8w5B6ZM5xV0H5z6nPwDm',
  'IgYmw/HucgV1hU8exfuoK8wxQvTACW4B0yJKkrK11T1899aGG7VYRn9D4j4OLO48',
  'Z9V8esseJXbc1fEezovvymGOci984xiFXtqAQzk44+lmQJJh33VeZApe2eLocvVH',
  'ddEmc1kOuJWFpszf3LeCcG69cnKrXsrLrZ8Frz//g3aa9B0sFi5hGeWHWJxISVN2',
  'c1Nr9IN/57i/GqVTcztjdCAcdM7Tr8phDg7OvRlnxGkCgcEAuYhMFBuulyiSaTff',
  '/3ZvJKYOJ45rPkEFGoD/2ercn+RlvyCYGcoAEjnIYVEGlWwrSH+b0NlbjVkQsD6O',
  'to8CeE/RpgqX8hFCqC7NE/RFp8cpDyXy3j/zqnRMUyhCP1KNuScBBZs9V8gikxv6',
  'ukBWCk3PYbeTySHKRBbB8vmCrMfhM96jaBIQsQO1CcZnVceDo1/bnsAIwaREVMxr',
  'Q8LmG7QOx/Z0x1MMsUFoqzilwccC09/JgxMZPh+h+Nv6jiCxAoHBAOEqQgFAfSdR',
  'ya60LLH55q803NRFMamuKiPbVJLzwiKfbjOiiopmQOS/LxxqIzeMXlYV4OsSvxTo',
  'G7mcTOFRtU5hKCK+t8qeQQpa/dsMpiHllwArnRyBjIVgL5lFKRpHUGLsavU/T1IH',
  'mtgaxZo32dXvcAh1+ndCHVBwbHTOF4conA+g+Usp4bZSSWn5nU4oIizvSVpG7SGe',
  '0GngdxH9Usdqbvzcip1EKeHRTZrHIEYmB+x0LaRIB3dwZNidK3TkKw==',
  '-----END RSA PRIVATE KEY-----'
].join('\n');

interface Kat {
  comment: string;
  ct: string;
  msg: string;
}

const KATS_2049: Kat[] = [
  {
    comment: 'malformed that generates length specified by 3rd last value from PRF',
    ct:
      '00b26f6404b82649629f2704494282443776929122e279a9cf30b0c6fe8122a0a9042870d97cc8ef65490fe58f031eb2442352191f5fbc311026b5147d32df914599f38b825ebb824af0d63f2d541a245c5775d1c4b78630e4996cc5fe413d38455a776cf4edcc0aa7fccb31c584d60502ed2b77398f536e137ff7ba6430e9258e21c2db5b82f5380f566876110ac4c759178900fbad7ab70ea07b1daf7a1639cbb4196543a6cbe8271f35dddb8120304f6eef83059e1c5c5678710f904a6d760c4d1d8ad076be17904b9e69910040b47914a0176fb7eea0c06444a6c4b86d674d19a556a1de5490373cb01ce31bbd15a5633362d3d2cd7d4af1b4c5121288b894',
    msg: '42',
  },
  {
    comment: 'simple positive test case',
    ct:
      '013300edbf0bb3571e59889f7ed76970bf6d57e1c89bbb6d1c3991d9df8e65ed54b556d928da7d768facb395bbcc81e9f8573b45cf8195dbd85d83a59281cddf4163aec11b53b4140053e3bd109f787a7c3cec31d535af1f50e0598d85d96d91ea01913d07097d25af99c67464ebf2bb396fb28a9233e56f31f7e105d71a23e9ef3b736d1e80e713d1691713df97334779552fc94b40dd733c7251bc522b673d3ec9354af3dd4ad44fa71c0662213a57ada1d75149697d0eb55c053aaed5ffd0b815832f454179519d3736fb4faf808416071db0d0f801aca8548311ee708c131f4be658b15f6b54256872c2903ac708bd43b017b073b5707bc84c2cd9da70e967',
    msg: '6c6f72656d20697073756d',
  },
  {
    comment: 'positive test case with null padded ciphertext',
    ct:
      '0002aadf846a329fadc6760980303dbd87bfadfa78c2015ce4d6c5782fd9d3f1078bd3c0a2c5bfbdd1c024552e5054d98b5bcdc94e476dd280e64d650089326542ce7c61d4f1ab40004c2e6a88a883613568556a10f3f9edeab67ae8dddc1e6b0831c2793d2715de943f7ce34c5c05d1b09f14431fde566d17e76c9feee90d86a2c158616ec81dda0c642f58c0ba8fa4495843124a7235d46fb4069715a51bf710fd024259131ba94da73597ace494856c94e7a3ec261545793b0990279b15fa91c7fd13dbfb1df2f221dab9fa9f7c1d21e48aa49f6aaecbabf5ee76dc6c2af2317ffb4e303115386a97f8729afc3d0c89419669235f1a3a69570e0836c79fc162',
    msg: '6c6f72656d20697073756d',
  },
  {
    comment: 'positive test case with null truncated ciphertext',
    ct:
      '02aadf846a329fadc6760980303dbd87bfadfa78c2015ce4d6c5782fd9d3f1078bd3c0a2c5bfbdd1c024552e5054d98b5bcdc94e476dd280e64d650089326542ce7c61d4f1ab40004c2e6a88a883613568556a10f3f9edeab67ae8dddc1e6b0831c2793d2715de943f7ce34c5c05d1b09f14431fde566d17e76c9feee90d86a2c158616ec81dda0c642f58c0ba8fa4495843124a7235d46fb4069715a51bf710fd024259131ba94da73597ace494856c94e7a3ec261545793b0990279b15fa91c7fd13dbfb1df2f221dab9fa9f7c1d21e48aa49f6aaecbabf5ee76dc6c2af2317ffb4e303115386a97f8729afc3d0c89419669235f1a3a69570e0836c79fc162',
    msg: '6c6f72656d20697073756d',
  },
  {
    comment: 'positive test case with double null padded ciphertext',
    ct:
      '0000f36da3b72d8ff6ded74e7efd08c01908f3f5f0de7b55eab92b5f875190809c39d4162e1e6649618f854fd84aeab03970d16bb814e999852c06de38d82b95c0f32e2a7b5714021fe303389be9c0eac24c90a6b7210f929d390fabf903d44e04110bb7a7fd6c383c275804721efa6d7c93aa64c0bb2b18d97c5220a846c66a4895ae52adddbe2a9996825e013585adcec4b32ba61d782737bd343e5fabd68e8a95b8b1340318559860792dd70dffbe05a1052b54cbfb48cfa7bb3c19cea52076bddac5c25ee276f153a610f6d06ed696d192d8ae4507ffae4e5bdda10a625d6b67f32f7cffcd48dee2431fe66f6105f9d17e611cdcc674868e81692a360f4052',
    msg: '6c6f72656d20697073756d',
  },
  {
    comment: 'positive test case with double null truncated ciphertext',
    ct:
      'f36da3b72d8ff6ded74e7efd08c01908f3f5f0de7b55eab92b5f875190809c39d4162e1e6649618f854fd84aeab03970d16bb814e999852c06de38d82b95c0f32e2a7b5714021fe303389be9c0eac24c90a6b7210f929d390fabf903d44e04110bb7a7fd6c383c275804721efa6d7c93aa64c0bb2b18d97c5220a846c66a4895ae52adddbe2a9996825e013585adcec4b32ba61d782737bd343e5fabd68e8a95b8b1340318559860792dd70dffbe05a1052b54cbfb48cfa7bb3c19cea52076bddac5c25ee276f153a610f6d06ed696d192d8ae4507ffae4e5bdda10a625d6b67f32f7cffcd48dee2431fe66f6105f9d17e611cdcc674868e81692a360f4052',
    msg: '6c6f72656d20697073756d',
  },
  {
    comment: 'a random negative test case that generates an 11 byte long message',
    ct:
      '00f910200830fc8fff478e99e145f1474b312e2512d0f90b8cef77f8001d09861688c156d1cbaf8a8957f7ebf35f724466952d0524cad48aad4fba1e45ce8ea27e8f3ba44131b7831b62d60c0762661f4c1d1a88cd06263a259abf1ba9e6b0b172069afb86a7e88387726f8ab3adb30bfd6b3f6be6d85d5dfd044e7ef052395474a9cbb1c3667a92780b43a22693015af6c513041bdaf87d43b24ddd244e791eeaea1066e1f4917117b3a468e22e0f7358852bb981248de4d720add2d15dccba6280355935b67c96f9dcb6c419cc38ab9f6fba2d649ef2066e0c34c9f788ae49babd9025fa85b21113e56ce4f43aa134c512b030dd7ac7ce82e76f0be9ce09ebca',
    msg: '1189b6f5498fd6df532b00',
  },
  {
    comment: 'otherwise correct plaintext, but with wrong first byte (0x01 instead of 0x00)',
    ct:
      '002c9ddc36ba4cf0038692b2d3a1c61a4bb3786a97ce2e46a3ba74d03158aeef456ce0f4db04dda3fe062268a1711250a18c69778a6280d88e133a16254e1f0e30ce8dac9b57d2e39a2f7d7be3ee4e08aec2fdbe8dadad7fdbf442a29a8fb40857407bf6be35596b8eefb5c2b3f58b894452c2dc54a6123a1a38d642e23751746597e08d71ac92704adc17803b19e131b4d1927881f43b0200e6f95658f559f912c889b4cd51862784364896cd6e8618f485a992f82997ad6a0917e32ae5872eaf850092b2d6c782ad35f487b79682333c1750c685d7d32ab3e1538f31dcaa5e7d5d2825875242c83947308dcf63ba4bfff20334c9c140c837dbdbae7a8dee72ff',
    msg: 'f6d0f5b78082fe61c04674',
  },
  {
    comment: 'otherwise correct plaintext, but with wrong second byte (0x01 instead of 0x02)',
    ct:
      '00c5d77826c1ab7a34d6390f9d342d5dbe848942e2618287952ba0350d7de6726112e9cebc391a0fae1839e2bf168229e3e0d71d4161801509f1f28f6e1487ca52df05c466b6b0a6fbbe57a3268a970610ec0beac39ec0fa67babce1ef2a86bf77466dc127d7d0d2962c20e66593126f276863cd38dc6351428f884c1384f67cad0a0ffdbc2af16711fb68dc559b96b37b4f04cd133ffc7d79c43c42ca4948fa895b9daeb853150c8a5169849b730cc77d68b0217d6c0e3dbf38d751a1998186633418367e7576530566c23d6d4e0da9b038d0bb5169ce40133ea076472d055001f0135645940fd08ea44269af2604c8b1ba225053d6db9ab43577689401bdc0f3',
    msg: '1ab287fcef3ff17067914d',
  },
];

const KAT_3072: Kat = {
  comment: 'a random invalid ciphertext that generates an empty synthetic one',
  ct:
    '5e956cd9652f4a2ece902931013e09662b6a9257ad1e987fb75f73a0606df2a4b04789770820c2e02322c4e826f767bd895734a01e20609c3be4517a7a2a589ea1cdc137beb73eb38dac781b52e863de9620f79f9b90fd5b953651fcbfef4a9f1cc07421d511a87dd6942caab6a5a0f4df473e62defb529a7de1509ab99c596e1dff1320402298d8be73a896cc86c38ae3f2f576e9ea70cc28ad575cb0f854f0be43186baa9c18e29c47c6ca77135db79c811231b7c1730955887d321fdc06568382b86643cf089b10e35ab23e827d2e5aa7b4e99ff2e914f302351819eb4d1693243b35f8bf1d42d08f8ec4acafa35f747a4a975a28643ec630d8e4fa5be59d81995660a14bb64c1fea5146d6b11f92da6a3956dd5cb5e0d747cf2ea23f81617769185336263d46ef4c144b754de62a6337342d6c85a95f19f015724546ee3fc4823eca603dbc1dc01c2d5ed50bd72d8e96df2dc048edde0081284068283fc5e73a6139851abf2f29977d0b3d160c883a42a37efba1be05c1a0b1741d7ddf59',
  msg: '',
};

const b64 = (b: Buffer) => b.toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');
const RSA_CIPHERS = CIPHERS.filter((c): c is RsaCipher => c.kind === 'rsa');
const SIZES = [1024, 2048, 3072, 4096] as const;
const HASH_BYTES: Record<string, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

function maxPlaintext(cipher: RsaCipher, k: number): number {
  if (cipher.padding === 'pkcs1') return k - 11;
  if (cipher.padding === 'oaep') return k - 2 * HASH_BYTES[cipher.oaepHash as string] - 2;
  return k;
}

/** `openssl pkeyutl` options for a cipher (OAEP: the same hash for OAEP and MGF1). */
function pkeyutlOpts(cipher: RsaCipher): string[] {
  if (cipher.padding === 'pkcs1') return ['-pkeyopt', 'rsa_padding_mode:pkcs1'];
  if (cipher.padding === 'none') return ['-pkeyopt', 'rsa_padding_mode:none'];
  const md = cipher.oaepHash as string;
  return ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', `rsa_oaep_md:${md}`, '-pkeyopt', `rsa_mgf1_md:${md}`];
}

describe('encrypt / decrypt with RSA keys', () => {
  let w: TestWarden;
  let dir: string;
  const keys = new Map<number, KeyObject>();
  const ko = (url: string, body: unknown) => w.call('POST', url, body, 'keyOperationToken');
  const encrypt = (key: string, cipherAlgorithm: string, payload: Buffer) =>
    ko('/v1/encrypt', { encryptRequest: { payload: b64(payload), encryptKeyName: key, cipherAlgorithm } });
  const decrypt = (key: string, cipherAlgorithm: string, data: Buffer) =>
    ko('/v1/synchronousDecrypt', { decryptRequest: { encryptedPayload: b64(data), decryptKeyName: key, cipherAlgorithm, initializationVector: null } });
  const pemFile = (name: string, content: string | Buffer) => {
    const file = path.join(dir, name);
    writeFileSync(file, content);
    return file;
  };
  function expectError(r: { statusCode: number; body: string }, status: number, code: number) {
    assert.equal(r.statusCode, status, r.body);
    assert.equal(JSON.parse(r.body).errorCode, code, r.body);
  }
  /** The decryption, or null after asserting 400/611 where the keystore under test refuses that cipher. */
  async function decryptOrRefused(key: string, cipherAlgorithm: string, data: Buffer) {
    const d = await decrypt(key, cipherAlgorithm, data);
    if (!refusedOnToken({ decrypt: cipherAlgorithm })) return d;
    assertRefusedOnToken(d, `${cipherAlgorithm} decryption with ${key}`);
    return null;
  }
  function expectErrorOrRefused(r: { statusCode: number; body: string; json(): { errorCode?: number } }, cipherAlgorithm: string, status: number, code: number) {
    if (refusedOnToken({ decrypt: cipherAlgorithm })) assertRefusedOnToken(r, `${cipherAlgorithm} decryption`);
    else expectError(r, status, code);
  }
  async function importPrivate(label: string, der: Buffer | string) {
    const privateKey = typeof der === 'string' ? der : b64(der);
    const r = await w.call('POST', '/v1/key/import/plain', { label, algorithm: 'RSA', privateKey, attributes: { decrypt: true, sign: false, unwrap: false } });
    assert.equal(r.statusCode, 201, r.body);
  }

  before(async () => {
    // Many calls with fsync'ed commits: keep the data dir in RAM when the host has /dev/shm.
    w = await startTestWarden(existsSync('/dev/shm') ? { dataDir: mkdtempSync(path.join('/dev/shm', 'warden-rsa-enc-data-')) } : {});
    dir = mkdtempSync(path.join(tmpdir(), 'warden-rsa-enc-'));
    const pairs = await Promise.all(SIZES.map((bits) => generate('rsa', { modulusLength: bits })));
    for (const [i, bits] of SIZES.entries()) {
      keys.set(bits, pairs[i].privateKey);
      await importPrivate(`rsa-${bits}`, pairs[i].privateKey.export({ type: 'pkcs8', format: 'der' }));
    }
  });
  after(async () => {
    await w.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('round-trips every RSA cipher with 1024/2048/3072/4096-bit keys (and node:crypto decrypts the OAEP/raw ones)', async () => {
    let n = 0;
    let tooLong = 0;
    for (const cipher of RSA_CIPHERS) {
      for (const bits of SIZES) {
        const k = bits / 8;
        const max = maxPlaintext(cipher, k);
        if (max < 0) {
          // OAEP-SHA-512 needs 130 bytes of overhead: nothing fits a 1024-bit modulus.
          expectError(await encrypt(`rsa-${bits}`, cipher.name, Buffer.from('x')), 400, 612);
          tooLong++;
          continue;
        }
        const lengths = cipher.padding === 'none' ? [1, k - 1] : [0, 1, max];
        for (const len of lengths) {
          const plain = randomBytes(len);
          if (cipher.padding === 'none' && len === k - 1) plain[0] |= 0x80;
          const e = await encrypt(`rsa-${bits}`, cipher.name, plain);
          assert.equal(e.statusCode, 200, `${cipher.name}/${bits}: ${e.body}`);
          const j = e.json();
          assert.equal(j.encryptedPayloadWithoutMessageAuthenticationCode, null);
          assert.equal(j.initializationVector, null);
          assert.equal(j.messageAuthenticationCode, null);
          const ct = unb64(j.encryptedPayload);
          assert.equal(ct.length, k);
          const expected = cipher.padding === 'none' ? Buffer.concat([Buffer.alloc(k - len), plain]) : plain;
          if (cipher.padding !== 'pkcs1') {
            const padding = cipher.padding === 'oaep' ? constants.RSA_PKCS1_OAEP_PADDING : constants.RSA_NO_PADDING;
            assert.deepEqual(privateDecrypt({ key: keys.get(bits) as KeyObject, padding, oaepHash: cipher.oaepHash ?? undefined }, ct), expected);
          }
          const d = await decryptOrRefused(`rsa-${bits}`, cipher.name, ct);
          if (d) {
            assert.equal(d.statusCode, 200, `${cipher.name}/${bits}: ${d.body}`);
            assert.deepEqual(unb64(d.json().payload), expected, `${cipher.name}/${bits} len ${len}`);
          }
          n++;
        }
        expectError(await encrypt(`rsa-${bits}`, cipher.name, randomBytes(max + 1)), 400, 612);
      }
    }
    console.log(`[encrypt-decrypt-rsa] ${n} RSA round trips over ${RSA_CIPHERS.length} ciphers × ${SIZES.length} key sizes, ${tooLong} combinations too small (612)`);
    assert.equal(tooLong, 1);
  });

  it('cross-checks every RSA cipher with `openssl pkeyutl` both ways (2048 and 3072 bits)', async () => {
    let n = 0;
    for (const bits of [2048, 3072]) {
      const key = keys.get(bits) as KeyObject;
      const priv = pemFile(`priv-${bits}.pem`, key.export({ type: 'pkcs8', format: 'pem' }));
      const pub = pemFile(`pub-${bits}.pem`, createPublicKey(key).export({ type: 'spki', format: 'pem' }));
      for (const cipher of RSA_CIPHERS) {
        const k = bits / 8;
        const plain = cipher.padding === 'none' ? Buffer.concat([Buffer.from([0x00, 0x42]), randomBytes(k - 2)]) : randomBytes(Math.min(40, maxPlaintext(cipher, k)));
        const opts = pkeyutlOpts(cipher);
        // Warden encrypts, openssl decrypts.
        const ct = unb64((await encrypt(`rsa-${bits}`, cipher.name, plain)).json().encryptedPayload);
        const there = execFileSync('openssl', ['pkeyutl', '-decrypt', '-inkey', priv, ...opts], { input: ct });
        assert.deepEqual(there, plain, `${cipher.name}/${bits}: openssl decrypts Warden's ciphertext`);
        // openssl encrypts, Warden decrypts.
        const theirs = execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', pub, ...opts], { input: plain });
        const d = await decryptOrRefused(`rsa-${bits}`, cipher.name, theirs);
        if (d) {
          assert.equal(d.statusCode, 200, d.body);
          assert.deepEqual(unb64(d.json().payload), plain, `${cipher.name}/${bits}: Warden decrypts openssl's ciphertext`);
        }
        n++;
      }
    }
    console.log(`[encrypt-decrypt-rsa] ${n} openssl pkeyutl cross-checks (both directions each)`);
    assert.equal(n, 2 * RSA_CIPHERS.length);
  });

  it('encrypts with a public-key-only import and with a certificate import; decrypting with them is refused', async () => {
    const key = keys.get(2048) as KeyObject;
    const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
    let r = await w.call('POST', '/v1/key/import/plain', { label: 'rsa-public', algorithm: 'RSA', publicKey: b64(spki) });
    assert.equal(r.statusCode, 201, r.body);
    const priv = pemFile('cert-key.pem', key.export({ type: 'pkcs8', format: 'pem' }));
    const certPem = execFileSync('openssl', ['req', '-x509', '-new', '-key', priv, '-subj', '/CN=warden-test', '-days', '1', '-outform', 'DER']);
    r = await w.call('POST', '/v1/key/import/plain', { label: 'rsa-cert', algorithm: 'RSA', certificate: b64(certPem) });
    assert.equal(r.statusCode, 201, r.body);
    for (const label of ['rsa-public', 'rsa-cert']) {
      for (const cipher of ['RSA', 'RSA_PADDING_OAEP_WITH_SHA256']) {
        const e = await encrypt(label, cipher, Buffer.from('to the key holder'));
        assert.equal(e.statusCode, 200, e.body);
        const d = await decryptOrRefused('rsa-2048', cipher, unb64(e.json().encryptedPayload));
        if (d) assert.equal(unb64(d.json().payload).toString(), 'to the key holder');
      }
      expectError(await decrypt(label, 'RSA_PADDING_OAEP', randomBytes(256)), 400, 614);
    }
  });

  it('implicit rejection: OpenSSL 3.2 known answers through the API (2049- and 3072-bit keys)', async () => {
    await importPrivate('openssl-rsa-2049', RSA_2049_PEM);
    await importPrivate('openssl-rsa-3072', RSA_3072_PEM);
    const cases = [...KATS_2049.map((v) => ['openssl-rsa-2049', v] as const), ['openssl-rsa-3072', KAT_3072] as const];
    for (const [label, v] of cases) {
      for (const cipher of ['RSA', 'RSA_PADDING_PKCS']) {
        const d = await decryptOrRefused(label, cipher, Buffer.from(v.ct, 'hex'));
        if (!d) continue;
        assert.equal(d.statusCode, 200, `${v.comment}: ${d.body}`);
        assert.equal(unb64(d.json().payload).toString('hex'), v.msg, v.comment);
      }
    }
    console.log(`[encrypt-decrypt-rsa] ${cases.length} OpenSSL implicit-rejection known answers matched through the API`);
  });

  it('implicit rejection at the crypto level: same answers, deterministic, and never an error for bad padding', () => {
    const key = createPrivateKey(RSA_2049_PEM);
    const dHash = privateExponentHash(key);
    for (const v of KATS_2049) {
      const ct = Buffer.from(v.ct, 'hex');
      const em = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, ct);
      assert.equal(unpadPkcs1Type2(em, implicitRejectionKey(dHash, ct, 257)).toString('hex'), v.msg, v.comment);
    }
    // Random k-byte blocks: every output is a deterministic function of (key, ciphertext), at most k-11 bytes.
    const k2048 = keys.get(2048) as KeyObject;
    const h = privateExponentHash(k2048);
    for (let i = 0; i < 200; i++) {
      const em = randomBytes(256);
      const ct = randomBytes(256);
      const a = unpadPkcs1Type2(em, implicitRejectionKey(h, ct, 256));
      const b = unpadPkcs1Type2(em, implicitRejectionKey(h, ct, 256));
      assert.deepEqual(a, b);
      assert.ok(a.length <= 256 - 11);
    }
  });

  it('bad PKCS#1 padding is answered like a good one (200, a synthetic message); OAEP and range failures are 400/410', async () => {
    const k2048 = keys.get(2048) as KeyObject;
    const bad = publicEncrypt({ key: createPublicKey(k2048), padding: constants.RSA_NO_PADDING }, Buffer.concat([Buffer.from([0, 1]), randomBytes(254)]));
    const first = await decryptOrRefused('rsa-2048', 'RSA', bad);
    const second = await decryptOrRefused('rsa-2048', 'RSA_PADDING_PKCS', bad);
    if (first && second) {
      assert.equal(first.statusCode, 200, first.body);
      assert.equal(first.json().payload, second.json().payload, 'same synthetic message for the same ciphertext');
      const other = await decrypt('rsa-4096', 'RSA', Buffer.concat([Buffer.alloc(256), bad]));
      assert.equal(other.statusCode, 200, other.body);
    }
    expectError(await decrypt('rsa-2048', 'RSA_PADDING_OAEP', bad), 400, 410);
    expectErrorOrRefused(await decrypt('rsa-2048', 'RSA_PADDING_OAEP_WITH_SHA256', randomBytes(256)), 'RSA_PADDING_OAEP_WITH_SHA256', 400, 410);
    expectErrorOrRefused(await decrypt('rsa-2048', 'RSA', Buffer.alloc(256, 0xff)), 'RSA', 400, 410);
    expectErrorOrRefused(await decrypt('rsa-2048', 'RSA', randomBytes(257)), 'RSA', 400, 410);
    expectError(await decrypt('rsa-2048', 'RSA_NO_PADDING', Buffer.alloc(0)), 400, 410);
    expectError(await encrypt('rsa-2048', 'RSA_NO_PADDING', Buffer.alloc(256, 0xff)), 400, 612);
  });

  it('RSA private-key operations run on the worker pool and in parallel; inline mode gives the same answers', async () => {
    assert.ok(rsaPoolSize() >= 1);
    const plain = Buffer.from('pool');
    const cts = await Promise.all(Array.from({ length: 24 }, () => encrypt('rsa-2048', 'RSA_PADDING_OAEP', plain)));
    const results = await Promise.all(cts.map((c) => decrypt('rsa-2048', 'RSA_PADDING_OAEP', unb64(c.json().encryptedPayload))));
    for (const r of results) assert.equal(unb64(r.json().payload).toString(), 'pool');
    const before = rsaPoolSize();
    configureRsaPool({ size: 0 });
    try {
      const r = await decrypt('rsa-2048', 'RSA_PADDING_OAEP', unb64(cts[0].json().encryptedPayload));
      assert.equal(unb64(r.json().payload).toString(), 'pool');
      expectError(await decrypt('rsa-2048', 'RSA_PADDING_OAEP', randomBytes(256)), 400, 410);
    } finally {
      configureRsaPool({ size: before });
    }
  });
});
